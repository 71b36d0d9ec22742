"""Substrate's routing rules, without processes."""

from __future__ import annotations

from dream.substrate.routing import Resource, RouteTable, domain_allowed, parse_index

PID = "QmZHxiMtAoGv91QS9d1LcHZSyU4FrTY3LPULPfeyzap1K5"


def test_generated_domains_must_carry_the_project_suffix() -> None:
    assert domain_allowed("eyzap1k50.blackhole.localtau", PID, "blackhole")
    assert domain_allowed("eyzap1k50.g.blackhole.localtau", PID, "blackhole")
    assert not domain_allowed("gftxhd6h0.blackhole.localtau", PID, "blackhole")
    assert domain_allowed("hal.computers.com", PID, "blackhole")  # custom domains pass in dev mode


def test_index_paths_parse_with_and_without_applications() -> None:
    assert parse_index(f"branches/main/projects/{PID}/functions/f1") == ("main", PID, None, "functions", "f1")
    assert parse_index(f"branches/dev/projects/{PID}/applications/a1/websites/w1") == (
        "dev",
        PID,
        "a1",
        "websites",
        "w1",
    )


def test_function_match_is_exact_and_websites_take_the_longest_prefix() -> None:
    def resource(kind: str, rid: str, **config: object) -> Resource:
        return Resource(kind, rid, PID, "main", "c1", None, {"name": rid, **config})

    table = RouteTable(
        "h",
        functions=[resource("functions", "ping", method="GET", paths=["/ping"])],
        websites=[resource("websites", "root", paths=["/"]), resource("websites", "docs", paths=["/docs"])],
    )
    assert table.function("GET", "/ping")[0] is not None
    assert table.function("POST", "/ping") == (None, ["GET"])
    assert table.function("GET", "/ping/") == (None, [])
    assert table.website("GET", "/docs/a.html")[0].id == "docs"  # type: ignore[index]
    assert table.website("GET", "/other")[0].id == "root"  # type: ignore[index]
    assert table.website("POST", "/docs") is None
