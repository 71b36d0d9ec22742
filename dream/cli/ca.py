"""`dream ca`: the local certificate authority of this dream home, and how to trust it.

Every HTTPS certificate dream serves is signed (through its universe's issuer) by this root, made on first
use in `$DREAM_HOME/ca/`. Nothing trusts it until you say so: `dream ca` prints the commands, `dream ca
install` runs them for you (your NSS databases, and the system store when run as root).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import typer

from dream.cli import output
from dream.errors import DreamError
from dream.settings import dream_home

app = typer.Typer(help="The local certificate authority dream's HTTPS certificates chain to.")

# The name the root is known by in NSS databases and the system store.
NSS_NICKNAME = "dream local CA"
SYSTEM_STORE = Path("/usr/local/share/ca-certificates")


def root_pem() -> Path:
    from dream.tls.authority import home_root, root_paths

    home_root(dream_home())  # made on first use
    return root_paths(dream_home())[0]


def nss_databases() -> list[Path]:
    """The NSS databases of this user: Chromium's (`~/.pki/nssdb`) and each Firefox profile's."""
    home = Path.home()
    found = [home / ".pki" / "nssdb"] if (home / ".pki" / "nssdb").is_dir() else []
    for profiles in (
        home / ".mozilla" / "firefox",
        home / "snap" / "firefox" / "common" / ".mozilla" / "firefox",
    ):
        if profiles.is_dir():
            found += sorted(p.parent for p in profiles.glob("*/cert9.db"))
    return found


def system_name(root: Path) -> str:
    return f"dream-{root.parent.parent.name or 'home'}-{_fingerprint(root)[:8]}.crt"


def _fingerprint(root: Path) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    return x509.load_pem_x509_certificate(root.read_bytes()).fingerprint(hashes.SHA256()).hex()


@app.callback(invoke_without_command=True)
def ca(ctx: typer.Context) -> None:
    """Print the root certificate's path and the commands that make curl, the system and browsers trust it."""
    if ctx.invoked_subcommand is not None:
        return
    root = root_pem()
    quoted = shlex.quote(str(root))
    output.console.print(f"root certificate: {root}", markup=False, soft_wrap=True)
    output.console.print(f"SHA-256 fingerprint: {_fingerprint(root)}", markup=False)
    lines = [
        "",
        "Trust it (or run `dream ca install`):",
        "  curl, one call:",
        f"    curl --cacert {quoted} https://<fqdn>.localhost:<https port>/ping",
        "  Python (httpx, requests):",
        f"    SSL_CERT_FILE={quoted} python ...   # or httpx.get(url, verify={quoted!r})",
        "  the system store (Debian/Ubuntu, as root):",
        f"    cp {quoted} {SYSTEM_STORE}/{system_name(root)} && update-ca-certificates",
        "  Chromium and Firefox (NSS; certutil is in Debian's libnss3-tools):",
        f"    certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n {shlex.quote(NSS_NICKNAME)} -i {quoted}",
        f"    certutil -d sql:<firefox profile folder> -A -t C,, -n {shlex.quote(NSS_NICKNAME)} -i {quoted}",
    ]
    for line in lines:
        output.console.print(line, markup=False, soft_wrap=True)


@app.command("install")
def install(
    system: bool = typer.Option(True, "--system/--no-system", help="Add it to the system store (needs root)"),
    nss: bool = typer.Option(
        True, "--nss/--no-nss", help="Add it to your Chromium and Firefox NSS databases"
    ),
) -> None:
    """Trust the root: in your NSS databases (Chromium, Firefox) and, as root, in the system store."""
    root = root_pem()
    done: list[str] = []
    problems: list[str] = []
    if nss:
        certutil = shutil.which("certutil")
        databases = nss_databases()
        if certutil is None:
            problems.append(
                "certutil is missing: install Debian's libnss3-tools (apt-get install libnss3-tools)"
            )
        elif not databases:
            problems.append(
                "no NSS database found (~/.pki/nssdb or a Firefox profile): start Chromium or Firefox once, "
                "or make one with `mkdir -p ~/.pki/nssdb && certutil -d sql:$HOME/.pki/nssdb -N --empty-password`"
            )
        if certutil is not None:
            for database in databases:
                result = subprocess.run(
                    [
                        certutil,
                        "-d",
                        f"sql:{database}",
                        "-A",
                        "-t",
                        "C,,",
                        "-n",
                        NSS_NICKNAME,
                        "-i",
                        str(root),
                    ],
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
                if result.returncode == 0:
                    done.append(f"NSS database {database}")
                else:
                    problems.append(f"certutil could not add it to {database}: {result.stderr.strip()}")
    if system:
        if os.geteuid() != 0:
            problems.append(
                "the system store needs root: run `sudo dream ca install --no-nss` (or skip it with --no-system)"
            )
        elif not shutil.which("update-ca-certificates"):
            problems.append("update-ca-certificates is missing: install Debian's ca-certificates package")
        else:
            SYSTEM_STORE.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root, SYSTEM_STORE / system_name(root))
            result = subprocess.run(["update-ca-certificates"], capture_output=True, text=True, timeout=120)
            if result.returncode == 0:
                done.append(f"the system store ({SYSTEM_STORE / system_name(root)})")
            else:
                problems.append(f"update-ca-certificates failed: {result.stderr.strip()}")
    for line in done:
        output.success(f"trusted in {line}")
    for line in problems:
        output.warn(line)
    if not done:
        raise DreamError(f"the root {root} was not installed anywhere; see the lines above")
