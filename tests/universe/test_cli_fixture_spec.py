"""`dream inject` builds its fixture commands from the daemon's spec (GET /spec/fixtures/details), keeps
that spec in the dream home for when the daemon is stopped, and never imports daemon code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from dream.cli.fixture_spec import CACHE_FILE
from dream.daemon.actions import FIXTURES, specs
from dream.daemon.ports import free_port
from dream.testing.harness import DaemonProcess


def dream(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dream", *args],
        env={**env, "COLUMNS": "120"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def stopped_env(home: Path) -> dict[str, str]:
    """A home whose daemon is not running (nothing listens on its port)."""
    return {**os.environ, "DREAM_HOME": str(home), "DREAM_PORT": str(free_port())}


def test_the_daemon_describes_its_fixtures_and_the_cli_offers_and_keeps_them(tmp_path: Path) -> None:
    daemon = DaemonProcess(tmp_path / "home").start()
    try:
        details = httpx.get(f"{daemon.url}/spec/fixtures/details", timeout=30).json()
        assert details == specs()
        assert [d["name"] for d in details] == list(FIXTURES)
        push_all = next(d for d in details if d["cli_name"] == "push-all")
        assert {
            "name": "branch",
            "alias": "b",
            "description": "Branch (default main)",
            "required": False,
        } in (push_all["variables"])
        # Upstream's route is unchanged: the names alone.
        assert httpx.get(f"{daemon.url}/spec/fixtures", timeout=30).json() == sorted(FIXTURES)

        listed = dream(daemon.env, "inject", "--help")
        assert listed.returncode == 0, listed.stderr
        for spec in details:
            assert (spec["cli_name"] in listed.stdout) is not spec["internal"]
        assert json.loads((daemon.home / CACHE_FILE).read_text()) == details

        made = dream(daemon.env, "new", "universe", "cli-spec", "--empty")
        assert made.returncode == 0, made.stderr
        missing = dream(daemon.env, "inject", "set-branch", "cli-spec")
        assert missing.returncode == 2 and "--name" in missing.stderr
        ran = dream(daemon.env, "inject", "set-branch", "cli-spec", "--name", "main")
        assert ran.returncode == 0, ran.stderr
        assert "fixture set-branch done in universe cli-spec" in ran.stdout
        assert json.loads(ran.stdout[ran.stdout.index("{") :]) == {"branches": ["main"]}
    finally:
        daemon.stop()

    # Stopped: help and options still come from the kept spec; running one says how to start the daemon.
    env = {**daemon.env, "DREAM_PORT": str(free_port())}
    options = dream(env, "inject", "push-all", "--help")
    assert options.returncode == 0, options.stderr
    assert "--project-id" in options.stdout and "Only the repositories of this project" in options.stdout
    run = dream(env, "inject", "push-all")
    assert run.returncode == 1
    assert "dream is not running at" in run.stderr and "dream new multiverse" in run.stderr


def test_with_no_daemon_and_nothing_kept_inject_says_how_to_start_it(tmp_path: Path) -> None:
    env = stopped_env(tmp_path / "home")
    listed = dream(env, "inject", "--help")
    assert listed.returncode == 0, listed.stderr
    assert "services" in listed.stdout and "push-all" not in listed.stdout.split("Fixtures (")[0]
    assert "start it with `dream new multiverse`" in " ".join(listed.stdout.split())
    for args in (("inject", "push-all"), ("inject", "push-all", "--help"), ("list", "fixtures")):
        result = dream(env, *args)
        assert result.returncode == 1, (args, result.stdout)
        assert "dream is not running at" in result.stderr, args
    assert not (tmp_path / "home" / CACHE_FILE).exists()


def test_a_broken_kept_spec_is_only_a_missing_cache(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / CACHE_FILE).write_text('[{"name": "pushAll"}]')
    result = dream(stopped_env(home), "inject", "push-all")
    assert result.returncode == 1
    assert "dream is not running at" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_cli_imports_no_daemon_code(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / CACHE_FILE).write_text(json.dumps(specs()))
    script = (
        "import sys\n"
        "from dream.cli.main import app\n"
        "try:\n"
        "    app(['inject', 'push-all', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "daemon = sorted(m for m in sys.modules if m.startswith(('dream.daemon', 'dream.monkey', 'dream.projects')))\n"
        "assert 'dream.cli.inject' in sys.modules\n"
        "print(daemon)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env=stopped_env(home), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "--project-id" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "[]"
