"""The substrate's website unpacking: an artefact whose members would land outside the site folder
(`..`, absolute paths, symbolic links) is refused whole, with a sentence, and nothing is written."""

from __future__ import annotations

import io
import stat
import threading
import zipfile
from pathlib import Path

import pytest

from dream.substrate.website import UnsafeArtefact, find, unpack

SITE = [("index.html", b"<h1>hi</h1>"), ("css/style.css", b"h1 {}")]


def artefact(*members: tuple[str | zipfile.ZipInfo, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def symlink(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()


def tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def test_a_plain_site_is_unpacked_once_and_served_from_its_folder(tmp_path: Path) -> None:
    into = tmp_path / "sites" / "bafksite"
    assert unpack(artefact(*SITE), into) == into
    assert (into / "index.html").read_bytes() == b"<h1>hi</h1>"
    assert find(into, "/css/style.css") == into / "css" / "style.css"
    assert find(into, "/") == into / "index.html"
    assert tree(tmp_path / "sites") == {
        "bafksite",
        "bafksite/index.html",
        "bafksite/css",
        "bafksite/css/style.css",
    }
    assert unpack(b"not read again", into) == into  # once per CID


def test_concurrent_first_requests_unpack_the_same_site_without_a_clash(tmp_path: Path) -> None:
    into = tmp_path / "sites" / "bafksite"
    data = artefact(*SITE, *((f"asset-{i}.txt", b"x" * 1000) for i in range(200)))
    start = threading.Barrier(6)
    errors: list[BaseException] = []

    def first_request() -> None:
        start.wait()
        try:
            unpack(data, into)
        except BaseException as exc:  # every failure is reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=first_request) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert len(list(into.glob("asset-*.txt"))) == 200
    assert tree(tmp_path / "sites") == {"bafksite"} | {f"bafksite/{p}" for p in tree(into)}  # no leftovers


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (("../escaped.txt", b"x"), "climbs out of the site folder with '..'"),
        (("css/../../escaped.txt", b"x"), "climbs out of the site folder with '..'"),
        (("..\\escaped.txt", b"x"), "climbs out of the site folder with '..'"),
        (("/ABSOLUTE/escaped.txt", b"x"), "is an absolute path"),
        (symlink("passwd", "/etc/passwd"), "is a symbolic link"),
        (symlink("log", "../../node.log"), "is a symbolic link"),
    ],
    ids=["dotdot", "nested-dotdot", "backslash-dotdot", "absolute", "symlink-absolute", "symlink-relative"],
)
def test_a_member_outside_the_site_refuses_the_whole_artefact_and_writes_nothing(
    tmp_path: Path, member: tuple[str | zipfile.ZipInfo, bytes], reason: str
) -> None:
    name, data = member
    if isinstance(name, str) and name.startswith("/ABSOLUTE/"):
        name = str(tmp_path / "outside" / name.removeprefix("/ABSOLUTE/"))
        member = (name, data)
    into = tmp_path / "node" / "sites" / "bafkbad"
    into.parent.mkdir(parents=True)
    (tmp_path / "node" / "node.log").write_text("the node's own log\n")
    before = tree(tmp_path)
    with pytest.raises(UnsafeArtefact) as refused:
        unpack(artefact(*SITE, member), into)  # good members first: they are not written either
    message = str(refused.value)
    shown = name.filename if isinstance(name, zipfile.ZipInfo) else name
    assert message.startswith(f"website artefact bafkbad refused: member {shown!r} {reason}"), message
    assert message.endswith("rebuild the website"), message
    assert tree(tmp_path) == before  # nothing unpacked, nothing outside, no staging folder left
    assert (tmp_path / "node" / "node.log").read_text() == "the node's own log\n"


def test_an_artefact_that_is_not_a_zip_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UnsafeArtefact, match=r"website artefact bafkjunk is not a readable zip file \("):
        unpack(b"<html>not a zip</html>", tmp_path / "sites" / "bafkjunk")
    assert tree(tmp_path) == {"sites"}
