"""Build steps run in a bubblewrap sandbox: what a project's build.sh can and cannot reach (docs/security.md).

Every build here is real: the templates' toolchains, real bwrap, real sockets and files."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

import dream
from dream.builders import BuildResult, build_function
from dream.builders.blocked import MAX_PATHS, NETWORK, blocked
from dream.builders.paths import tool_cache_dir, tools_dir
from dream.builders.sandbox import NOTE, OPT_OUT_WARNING, SANDBOX_ENV
from dream.builders.script_builder import ZIG_RETRY_NOTE
from dream.testing.harness import wait_for
from tests.builders.harness import Request, run
from tests.builders.test_builders import LANGS, PING_PONG, require_toolchain, running, sleepers

SANDBOXED = "sandbox: bubblewrap; no network; writable: the job's folder only"
TEMPLATE_STEP = '. /utils/wasm.sh\nbuild "${FILENAME}"\n'  # the templates' own build step


def function(tmp_path: Path, script: str, lang: str = "wat") -> Path:
    """A copy of the ping_pong template of `lang` whose build.sh is `script`."""
    src = tmp_path / f"{lang}-{uuid.uuid4().hex[:8]}"
    shutil.copytree(PING_PONG / lang, src)
    (src / ".taubyte" / "build.sh").write_text(script)
    return src


def build(
    src: Path, tmp_path: Path, *, timeout: float = 120, log: Callable[[str], None] | None = None
) -> BuildResult:
    return build_function(
        src, cache_dir=tmp_path / "build-cache", log=log or (lambda line: None), timeout=timeout
    )


@pytest.mark.parametrize("lang", LANGS)
def test_every_template_builds_inside_the_sandbox_and_answers_pong(lang: str, tmp_path: Path) -> None:
    require_toolchain(lang)
    result = build(PING_PONG / lang, tmp_path)
    assert result.ok, result.error
    assert SANDBOXED in result.log
    assert result.wasm is not None
    assert bytes(run(result.wasm, "ping", Request()).body) == b"PONG"


def test_a_server_on_loopback_sees_no_connection_and_the_error_says_why(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        # The check below does see a connection: one made from here first.
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        server.settimeout(5)
        server.accept()[0].close()
        connect = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=5)"
        lookup = "import socket; socket.getaddrinfo('pypi.org', 443)"
        src = function(tmp_path, f'"$DREAM_PYTHON" -c "{connect}"\n"$DREAM_PYTHON" -c "{lookup}"\nexit 1\n')
        result = build(src, tmp_path)
        server.setblocking(False)
        with pytest.raises(BlockingIOError):
            server.accept()  # nothing reached the server
    assert not result.ok and result.error is not None
    assert "Connection refused" in result.log and "gaierror" in result.log
    assert NOTE in result.error and NETWORK in result.error


def test_the_dream_home_and_the_users_files_are_not_visible(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The default layout: the dream home and the machine's caches (whose tool dirs a build sees) are one.
    home = tmp_path / "dream"
    key = home / "universes" / "blackhole" / "swarm.key"
    user = tmp_path / "user"
    notes = user / "notes.txt"
    other = tmp_path / "projects" / "other" / "config" / "config.yaml"
    for path, text in ((key, "SWARM-KEY-1234"), (notes, "MY-NOTES-5678"), (other, "OTHER-PROJECT-9012")):
        path.parent.mkdir(parents=True)
        path.write_text(text)
    monkeypatch.setenv("DREAM_HOME", str(home))
    monkeypatch.setenv("DREAM_CACHE", str(home))
    monkeypatch.setenv("HOME", str(user))
    script = "".join(f"cat {path}\n" for path in (key, notes, other)) + f"ls {home} {user}\nexit 1\n"
    result = build(function(tmp_path, script), tmp_path)
    assert not result.ok and result.error is not None
    for secret in ("SWARM-KEY-1234", "MY-NOTES-5678", "OTHER-PROJECT-9012"):
        assert secret not in result.log
    assert not {"universes", "notes.txt"} & set(result.log.splitlines())  # what `ls` would have listed
    assert NOTE in result.error
    for path in (key, notes, other):
        assert f"blocked: {path} is outside the sandbox (builds do not see it)" in result.error


def test_writes_outside_the_job_fail_and_leave_nothing(tmp_path: Path) -> None:
    token = uuid.uuid4().hex[:12]
    read_only = [
        Path(dream.__file__).parent / f"escape-{token}",  # dream itself
        Path(sys.prefix) / f"escape-{token}",  # the venv
        Path(tempfile.gettempdir()) / f"escape-{token}",  # /tmp beside the job's folder
    ]
    if tools_dir().is_dir():
        read_only.append(tools_dir() / f"escape-{token}")
    hidden = tmp_path / f"escape-{token}"  # the user's files
    script = "".join(f"echo escaped > {path}\n" for path in [*read_only, hidden]) + "exit 1\n"
    try:
        result = build(function(tmp_path, script), tmp_path)
        assert not result.ok and result.error is not None
        assert [path for path in [*read_only, hidden] if path.exists()] == []
        assert NOTE in result.error
        for path in read_only:
            assert f"blocked: writing {path} (read-only in the sandbox" in result.error
        assert f"blocked: {hidden} is outside the sandbox" in result.error
    finally:
        for path in [*read_only, hidden]:
            path.unlink(missing_ok=True)


def test_a_build_cannot_change_the_shared_compiler_cache(tmp_path: Path) -> None:
    require_toolchain("go")
    token = uuid.uuid4().hex[:12]
    planted = tool_cache_dir() / "go-build" / f"planted-{token}"
    script = f'echo poison > "$GOCACHE/planted-{token}" && echo planted\n' + TEMPLATE_STEP
    result = build(function(tmp_path, script, lang="go"), tmp_path)
    try:
        assert result.ok, result.error
        assert "compiler cache: shared, read-only (writes last as long as the step)" in result.log
        assert "planted" in result.log.splitlines()  # the build could write its view of the cache ...
        assert not planted.exists()  # ... and the shared cache did not change
    finally:
        planted.unlink(missing_ok=True)


def test_a_timed_out_build_leaves_no_process_behind(tmp_path: Path) -> None:
    markers = [f"{70 + n + time.time_ns() % 1000 / 1000:.3f}" for n in range(3)]
    # Children that leave the step's process group and session, or are orphaned to the sandbox's init.
    script = (
        f"setsid sleep {markers[0]} &\n(sleep {markers[1]} &)\nnohup sleep {markers[2]} >/dev/null 2>&1 &\n"
        "echo started\nsleep 300\n"
    )
    seen: list[int] = []

    def log(line: str) -> None:
        if line == "started":
            wait_for(lambda: all(sleepers(m) for m in markers), "the step's children to start", timeout=10)
            seen.extend(pid for m in markers for pid in sleepers(m))

    start = time.monotonic()
    result = build(function(tmp_path, script), tmp_path, timeout=5, log=log)
    # Long before the children would end by themselves (70 s): the build did not wait for them.
    assert time.monotonic() - start < 60
    assert not result.ok and result.error is not None and "did not finish within 5s" in result.error
    assert len(seen) == 3
    wait_for(
        lambda: not any(running(pid) for pid in seen), "every process of the step to be gone", timeout=10
    )


def test_the_projects_variables_reach_the_step_but_not_the_programs_that_set_the_sandbox_up(
    tmp_path: Path,
) -> None:
    require_toolchain("go")  # a layered build: unshare, mount and mkdir run before bwrap
    # Were the project's environment given to them, the dynamic loader would write its trace here.
    trace = tmp_path / "ld-trace"
    src = function(tmp_path, 'echo "LD_DEBUG is $LD_DEBUG"\n' + TEMPLATE_STEP, lang="go")
    config = src / ".taubyte" / "config.yaml"
    config.write_text(
        config.read_text().replace(
            "  variables:\n", f"  variables:\n    LD_DEBUG: files\n    LD_DEBUG_OUTPUT: {trace}\n"
        )
    )
    result = build(src, tmp_path)
    assert result.ok, result.error
    assert "LD_DEBUG is files" in result.log
    assert list(tmp_path.glob("ld-trace*")) == []


def test_a_link_the_build_leaves_in_out_is_not_followed_out_of_it(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("NOT-FOR-THE-WEBSITE")
    src = tmp_path / "site"
    shutil.copytree(PING_PONG.parent / "website", src)
    (src / ".taubyte" / "build.sh").write_text(
        f"mkdir -p /out\ncp index.html /out/\nln -s {secret} /out/style.css\necho -n 0 > /out/ret-code\n"
    )
    result = build(src, tmp_path)
    assert not result.ok and result.error is not None
    assert f"left a link /out/style.css to {secret}, outside /out" in result.error


def test_out_replaced_by_a_link_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "ret-code").write_text("0")  # dream would read it, then delete it
    (victim / "index.html").write_text("NOT-FOR-THE-WEBSITE")
    src = tmp_path / "site"
    shutil.copytree(PING_PONG.parent / "website", src)
    (src / ".taubyte" / "build.sh").write_text(f'rm -rf "$OUT"\nln -s {victim} "$OUT"\n')
    result = build(src, tmp_path)
    assert not result.ok and result.error is not None
    assert "replaced /out with a link or a file" in result.error
    assert sorted(p.name for p in victim.iterdir()) == ["index.html", "ret-code"]


def test_a_ret_code_link_is_not_read(tmp_path: Path) -> None:
    zero = tmp_path / "zero"
    zero.write_text("0")  # were it read, the step would count as a success
    src = function(tmp_path, f"{TEMPLATE_STEP}ln -s {zero} /out/ret-code\nexit 0\n")
    result = build(src, tmp_path)
    assert not result.ok and result.error is not None and "failed in step 'build'" in result.error


def test_a_step_cannot_point_the_next_steps_script_out_of_the_job(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    src = function(tmp_path, 'rm -rf "$DREAM_WORK/steps"\nln -s ' + f'{victim} "$DREAM_WORK/steps"\n')
    (src / ".taubyte" / "second.sh").write_text(TEMPLATE_STEP)
    config = src / ".taubyte" / "config.yaml"
    config.write_text(config.read_text().replace("  - build\n", "  - build\n  - second\n"))
    result = build(src, tmp_path)
    assert not result.ok  # the second step's script is gone with the folder the first step removed
    assert list(victim.iterdir()) == []


def test_a_step_script_linking_out_of_the_project_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.sh"
    outside.write_text("echo OUTSIDE-SCRIPT\n")
    src = function(tmp_path, "")
    (src / ".taubyte" / "build.sh").unlink()
    (src / ".taubyte" / "build.sh").symlink_to(outside)
    result = build(src, tmp_path)
    assert not result.ok and result.error is not None
    assert f"is a link to {outside}, outside {src}" in result.error
    assert "OUTSIDE-SCRIPT" not in result.log


def test_opting_out_builds_without_a_sandbox_and_every_log_starts_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("SEEN-FROM-AN-UNSANDBOXED-BUILD")
    monkeypatch.setenv(SANDBOX_ENV, "off")
    result = build(function(tmp_path, f"cat {outside}\n" + TEMPLATE_STEP), tmp_path)
    assert result.ok, result.error
    assert result.log.splitlines()[0] == OPT_OUT_WARNING
    assert "SEEN-FROM-AN-UNSANDBOXED-BUILD" in result.log and SANDBOXED not in result.log


def test_an_unknown_sandbox_setting_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SANDBOX_ENV, "of")
    result = build(function(tmp_path, TEMPLATE_STEP), tmp_path)
    assert not result.ok and result.error is not None
    assert f"{SANDBOX_ENV}='of' is not understood" in result.error and "'off'" in result.error


def test_without_bwrap_a_build_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    result = build(function(tmp_path, TEMPLATE_STEP), tmp_path)
    assert not result.ok and result.error is not None
    assert "bwrap is not installed" in result.error
    assert "apt-get install -y bubblewrap" in result.error and f"{SANDBOX_ENV}=off" in result.error


_BUILD_AND_REPORT = """
import json, sys
from pathlib import Path
from dream.builders import build_function
result = build_function(Path(sys.argv[1]), cache_dir=Path(sys.argv[2]), log=lambda line: None)
print(json.dumps({"ok": result.ok, "error": result.error}))
"""


def test_when_bwrap_cannot_make_a_sandbox_the_build_says_why(tmp_path: Path) -> None:
    # A real place where bwrap cannot work: a user namespace allowing no nested one, without capabilities.
    if shutil.which("unshare") is None or shutil.which("setpriv") is None:
        pytest.fail("util-linux's unshare and setpriv are needed (Debian package util-linux)")
    no_namespaces = 'echo 0 > /proc/sys/user/max_user_namespaces && exec setpriv --bounding-set=-all --inh-caps=-all -- "$@"'
    src = function(tmp_path, TEMPLATE_STEP)
    command = ["unshare", "--user", "--map-root-user", "--", "/bin/sh", "-c", no_namespaces, "sh"]
    command += [sys.executable, "-c", _BUILD_AND_REPORT, str(src), str(tmp_path / "build-cache")]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.splitlines()[-1])
    assert report["ok"] is False
    assert "bubblewrap cannot make one here: bwrap: Creating new namespace failed" in report["error"]
    assert "user.max_user_namespaces" in report["error"] and f"{SANDBOX_ENV}=off" in report["error"]


def test_blocked_names_what_common_tools_report() -> None:
    work = Path("/tmp/dream-build-x")
    visible = [Path("/usr"), work]
    lines = [
        "curl: (6) Could not resolve host: example.com",
        "npm ERR! request to https://registry.npmjs.org/x failed, reason: getaddrinfo EAI_AGAIN",
        'Get "http://127.0.0.1:1421/": dial tcp 127.0.0.1:1421: connect: connection refused',
        "cat: /root/.ssh/id_ed25519: No such file or directory",
        "sh: 1: cannot create /usr/lib/x: Read-only file system",
        "cp: cannot create regular file '/tmp/dream-build-x/out/main.wasm': No such file or directory",
        "ls: cannot access '/usr/share/nothing': No such file or directory",
    ]
    assert blocked(lines, work=work, visible=visible) == [
        NETWORK,
        "blocked: /root/.ssh/id_ed25519 is outside the sandbox (builds do not see it)",
        "blocked: writing /usr/lib/x (read-only in the sandbox; only the job's folder is writable)",
    ]
    assert blocked(["main.go:3: undefined: x"], work=work, visible=visible) == []


def test_an_error_names_at_most_max_paths_blocked_paths() -> None:
    lines = [f"cat: /root/secret-{n}: No such file or directory" for n in range(MAX_PATHS + 2)]
    found = blocked(lines, work=Path("/tmp/dream-build-x"), visible=[Path("/usr")])
    assert found == [
        f"blocked: /root/secret-{n} is outside the sandbox (builds do not see it)" for n in range(MAX_PATHS)
    ]


def test_a_c_build_needing_more_than_the_warm_up_compiled_still_builds(tmp_path: Path) -> None:
    """zig adds a new cache entry by renaming a directory, which the shared cache's layer refuses: that
    step runs again with a zig cache of its own, and says so; the next step reads the shared cache."""
    require_toolchain("c")
    src = function(tmp_path, TEMPLATE_STEP, "c")
    (src / ".taubyte" / "config.yaml").write_text(
        "version: 1.0\nenvironment:\n  image: dream/c-wasi\nworkflow:\n  - extra\n  - build\n"
    )
    # compiler_rt for a freestanding -O1 program: entries the warm-up never made (zig moves it into its cache as a directory).
    (src / ".taubyte" / "extra.sh").write_text(
        "set -e\nmkdir -p ../extra && printf 'int f(int x) { return x; }\\n' > ../extra/f.c\n"
        "zig cc -target wasm32-freestanding -O1 -Wl,--no-entry ../extra/f.c -o ../extra/f.wasm\n"
    )
    result = build(src, tmp_path, timeout=600)
    assert result.ok, result.error
    assert result.log.count(ZIG_RETRY_NOTE) == 1, result.log
    assert result.wasm is not None
    assert bytes(run(result.wasm, "ping", Request()).body) == b"PONG"
