"""The build cache key covers the builder's own code: a changed builder never reuses an old artefact."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dream
from dream.builders import build_function
from dream.builders.cache import BUILDERS_DIR, builder_code_digest, code_digest

TEMPLATE = Path(__file__).resolve().parents[2] / "fixtures" / "templates" / "ping_pong" / "wat"

BUILD_IN_CHILD = """
import json, sys
from pathlib import Path
import dream
from dream.builders import build_function
result = build_function(Path(sys.argv[1]), cache_dir=Path(sys.argv[2]), log=lambda line: None)
print(json.dumps({"ok": result.ok, "cached": result.cached, "error": result.error, "dream": dream.__file__}))
"""


def copy_of_dream(into: Path) -> Path:
    """A copy of the dream package under `into` (importable with PYTHONPATH=into)."""
    shutil.copytree(Path(dream.__file__).parent, into / "dream", ignore=shutil.ignore_patterns("__pycache__"))
    return into


def build_with(package_parent: Path, src: Path, cache: Path) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    done = subprocess.run(
        [sys.executable, "-c", BUILD_IN_CHILD, str(src), str(cache)],
        env=env,
        cwd=package_parent,  # `python -c` imports from its working directory first
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.splitlines()[-1])
    assert str(answer["dream"]).startswith(str(package_parent)), answer  # the copy ran, not this checkout
    assert answer["ok"], answer["error"]
    return answer


def test_the_digest_is_of_the_contents_not_of_where_the_builder_lives(tmp_path: Path) -> None:
    copy = tmp_path / "builders"
    shutil.copytree(BUILDERS_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert code_digest(copy) == builder_code_digest()
    (copy / "__pycache__").mkdir(exist_ok=True)
    (copy / "__pycache__" / "step.cpython-311.pyc").write_bytes(b"compiled")
    assert code_digest(copy) == builder_code_digest()  # byte-compiled copies are not code
    for name in ("build.py", "step.py", "env.py", "toolchains.py"):
        changed = tmp_path / f"changed-{name}"
        shutil.copytree(copy, changed)
        (changed / name).write_text((changed / name).read_text() + "# changed\n")
        assert code_digest(changed) != builder_code_digest(), name
    (copy / "sandbox.py").write_text("# a module the builder gained\n")
    assert code_digest(copy) != builder_code_digest()


def test_a_changed_builder_does_not_reuse_the_artefact_of_the_old_one(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    src = tmp_path / "src"
    shutil.copytree(TEMPLATE, src)
    first = build_function(src, cache_dir=cache, log=lambda line: None)
    assert first.ok and not first.cached, first.error
    same = build_with(copy_of_dream(tmp_path / "same"), src, cache)
    assert same["cached"], "the same builder code elsewhere on disk must reuse the cached artefact"
    changed = copy_of_dream(tmp_path / "changed")
    step = changed / "dream" / "builders" / "step.py"
    step.write_text(step.read_text() + "# a change in how a step runs\n")
    rebuilt = build_with(changed, src, cache)
    assert not rebuilt["cached"], "a builder whose code changed reused an artefact built by the old code"


def test_the_sdk_digest_follows_every_change_of_its_files(tmp_path: Path) -> None:
    """The SDK's digest is kept between builds while its files stay as they are: an edit, a new file or
    a removed one gives a new digest (a new staged copy, new build-cache keys)."""
    from dream.builders.languages import _tree_digest, sdk_dir

    sdk = tmp_path / "go"
    shutil.copytree(sdk_dir() / "go", sdk)
    first = _tree_digest(sdk)
    assert _tree_digest(sdk) == first
    errno = sdk / "errno" / "errno.go"
    text = errno.read_text()
    errno.write_text(text.replace("package errno", "package errno // edited", 1))
    edited = _tree_digest(sdk)
    assert edited != first
    errno.write_text(text)
    os.utime(errno, ns=(1, 1))  # the old contents at another time: the same digest as at first
    assert _tree_digest(sdk) == first
    (sdk / "errno" / "more.go").write_text("package errno\n")
    assert _tree_digest(sdk) not in (first, edited)
    (sdk / "errno" / "more.go").unlink()
    assert _tree_digest(sdk) == first
