"""`dream ca`: the home's root is made on first use and kept (its key 0600), printed with the commands that
trust it; `dream ca install` adds it to an NSS database with the real certutil."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from dream.tls.authority import home_root, root_paths


def dream(home: Path, *args: str, user_home: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DREAM_HOME": str(home), "COLUMNS": "300"}
    if user_home is not None:
        env["HOME"] = str(user_home)
    return subprocess.run(
        [sys.executable, "-m", "dream", "ca", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_the_root_is_made_once_kept_and_printed_with_the_trust_commands(tmp_path: Path) -> None:
    first = dream(
        tmp_path,
    )
    assert first.returncode == 0, first.stderr
    cert, key = root_paths(tmp_path)
    assert f"root certificate: {cert}" in first.stdout
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    for command in (
        f"curl --cacert {cert}",
        "update-ca-certificates",
        "certutil -d sql:$HOME/.pki/nssdb -A -t C,,",
    ):
        assert command in first.stdout, command
    made = cert.read_bytes()
    again = dream(tmp_path)
    assert again.returncode == 0 and cert.read_bytes() == made  # kept, not made again
    root = x509.load_pem_x509_certificate(made)
    constraints = root.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca and root.issuer == root.subject
    assert home_root(tmp_path).cert == root


def test_a_damaged_root_is_a_clear_error(tmp_path: Path) -> None:
    assert dream(tmp_path).returncode == 0
    root_paths(tmp_path)[1].write_text("not a key")
    broken = dream(tmp_path)
    assert broken.returncode == 1
    assert "the local certificate authority in" in broken.stderr and "cannot be read" in broken.stderr
    assert "move the folder away and run `dream ca`" in broken.stderr


@pytest.mark.skipif(
    shutil.which("certutil") is None, reason="certutil missing: run scripts/browser (as root)"
)
def test_install_adds_the_root_to_the_users_nss_database(tmp_path: Path) -> None:
    user = tmp_path / "user"
    nssdb = user / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    subprocess.run(["certutil", "-d", f"sql:{nssdb}", "-N", "--empty-password"], check=True, timeout=60)
    installed = dream(tmp_path / "home", "install", "--no-system", user_home=user)
    assert installed.returncode == 0, installed.stderr
    assert f"trusted in NSS database {nssdb}" in installed.stdout
    listed = subprocess.run(
        ["certutil", "-d", f"sql:{nssdb}", "-L"], capture_output=True, text=True, timeout=60
    )
    assert "dream local CA" in listed.stdout and "C,," in listed.stdout


def test_install_with_nowhere_to_install_says_how(tmp_path: Path) -> None:
    user = tmp_path / "user"
    user.mkdir()
    nothing = dream(tmp_path / "home", "install", "--no-system", user_home=user)
    assert nothing.returncode == 1
    assert "no NSS database found" in nothing.stderr or "certutil is missing" in nothing.stderr
    assert "was not installed anywhere" in nothing.stderr
