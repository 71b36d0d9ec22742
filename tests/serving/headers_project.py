"""A project whose functions set response headers and redirects from the query string, as a careless
function would (the guest is tests/substrate/wat/headers.wat), written out in the Taubyte layout for
`dream.testing.project.deploy`."""

from __future__ import annotations

from pathlib import Path

GUEST = Path(__file__).resolve().parents[1] / "substrate" / "wat" / "headers.wat"
FQDN = "headers.example.com"
PROJECT = "QmHeadersProjectForInjectionTests000000000001"
# function name → (method, path, export)
FUNCTIONS = {
    "add": ("GET", "/add", "add"),
    "addhead": ("HEAD", "/add", "add"),
    "redirect": ("GET", "/redirect", "redirect"),
    "ping": ("GET", "/ping", "ping"),
}
BUILD = """#!/bin/bash

. /utils/wasm.sh

build "${FILENAME}"
ret=$?
echo -n $ret > /out/ret-code
exit $ret
"""
BUILD_CONFIG = """version: 1.00
environment:
  image: dream/wat
  variables:
workflow:
  - build
"""


def write_project(root: Path) -> Path:
    """The project's config/ and code/ under `root`; returns `root`."""
    config, code = root / "config", root / "code"
    (config / "functions").mkdir(parents=True)
    (config / "domains").mkdir()
    (config / "config.yaml").write_text(
        f"id: {PROJECT}\nname: headers\ndescription: functions that set headers from the query\n"
        "tags: []\nnotification:\n  email: dev@example.com\n"
    )
    (config / "domains" / "headers.yaml").write_text(
        f"id: QmHeadersDomain000000000000000000000000000001\ndescription: the test domain\nfqdn: {FQDN}\n"
    )
    for n, (name, (method, path, export)) in enumerate(FUNCTIONS.items()):
        (config / "functions" / f"{name}.yaml").write_text(
            f"id: QmHeadersFunction{n:029d}\ndescription: {export}\ntags: []\nsource: .\n"
            f"trigger:\n  type: https\n  method: {method}\n  paths:\n    - {path}\n"
            "domains:\n  - headers\n"
            f"execution:\n  timeout: 10s\n  memory: 10MB\n  call: {export}\n"
        )
        folder = code / "functions" / name
        (folder / ".taubyte").mkdir(parents=True)
        (folder / "main.wat").write_text(GUEST.read_text())
        build = folder / ".taubyte" / "build.sh"
        build.write_text(BUILD)
        build.chmod(0o755)
        (folder / ".taubyte" / "config.yaml").write_text(BUILD_CONFIG)
    return root
