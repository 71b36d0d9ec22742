"""The shared checks of node routes (dream.node.validate): what they accept, and how a refusal reads."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dream.node.validate import (
    CID,
    COMMIT,
    FQDN,
    JOB_ID,
    NAME,
    PROJECT_ID,
    REPO_ID,
    STRING,
    BadInput,
    Body,
    Field,
    Integer,
    Invalid,
    ListOf,
    MapOf,
    Number,
    Object,
    OrNull,
    QueryInt,
    QueryNumber,
)

SHAPE = Body(
    {
        "name": NAME,
        "count": Field(Integer(minimum=0), 1),
        "tags": Field(ListOf(STRING), []),
        "owner": Field(OrNull(Object({"id": REPO_ID}, closed=False)), None),
        "wait": Field(Number(minimum=0, maximum=30), 0.0),
        "cids": Field(MapOf(CID), {}),
    }
)


def refusal(raw: bytes) -> str:
    with pytest.raises(BadInput) as caught:
        SHAPE.parse(raw, "POST /x")
    return str(caught.value)


def test_a_good_body_comes_back_checked_with_defaults() -> None:
    body = SHAPE.parse(b'{"name": "a", "owner": {"id": 12, "more": true}, "wait": 2}', "POST /x")
    assert body == {"name": "a", "count": 1, "tags": [], "owner": {"id": "12"}, "wait": 2.0, "cids": {}}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"", "the body is not JSON (Expecting value at line 1 column 1)"),
        (b"\xff", "the body is not JSON (it is not UTF-8 text)"),
        (b"[1]", "the body must be a JSON object, got [1]"),
        (b'{"name": "a", "wait": Infinity}', "Infinity is not a JSON number"),
        (b"{}", "field `name` is missing"),
        (b'{"name": ""}', "field `name` must not be empty"),
        (b'{"name": 5}', "field `name` must be a non-empty string, got 5"),
        (b'{"name": "a", "nmae": "a"}', "field `nmae` is not a field of this route (its fields: `name`,"),
        (b'{"name": "a", "count": -1}', "field `count` must be an integer >= 0, got -1"),
        (b'{"name": "a", "count": 1.0}', "field `count` must be an integer >= 0, got 1.0"),
        (b'{"name": "a", "count": true}', "field `count` must be an integer >= 0, got true"),
        (b'{"name": "a", "tags": ["x", 3]}', "field `tags[1]` must be a string, got 3"),
        (b'{"name": "a", "owner": {}}', "field `owner.id` is missing"),
        (b'{"name": "a", "owner": {"id": "x1"}}', "field `owner.id` must be a repository id"),
        (b'{"name": "a", "wait": 31}', "field `wait` must be a number from 0 to 30, got 31"),
        (b'{"name": "a", "cids": {"k": "../x"}}', "field `cids.k` must be a CID such as bafkrei"),
    ],
)
def test_a_refusal_names_the_route_the_field_and_the_shape(body: bytes, words: str) -> None:
    message = refusal(body)
    assert message.startswith("POST /x: ") and words in message, message
    assert message.endswith(
        '; send {"name": string, "count"?: integer >= 0, "tags"?: [string, ...], '
        '"owner"?: {"id": "123456789", ...} | null, "wait"?: number from 0 to 30, '
        '"cids"?: {string: "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"}}'
    )


def test_a_refused_value_is_quoted_short_and_escaped() -> None:
    message = refusal(json.dumps({"name": 7, "x": 1}).encode())
    assert "got 7" in message
    long = refusal(json.dumps({"name": "a", "tags": ["x" * 500, {"k": "\x00" * 100}]}).encode())
    assert "\\u0000" in long and "…" in long and len(long) < 400


@pytest.mark.parametrize(
    ("kind", "good", "bad"),
    [
        (
            CID,
            ["bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", "Qm" + "a" * 44],
            ["bafk\x00", "..", "x"],
        ),
        (JOB_ID, ["job-0123456789abcdef01234567"], ["job-1", "job-0123456789ABCDEF01234567", ""]),
        (PROJECT_ID, ["QmFakeProjectBui1tIntoDreamForFixtureTests001", "p.1_x-y"], ["-x", "a/b", "a b", "é"]),
        (COMMIT, ["ab" * 20, "cd" * 32], ["HEAD", "ab" * 19, ""]),
        (FQDN, ["hal.computers.com", "x.g.blackhole.localtau.", "*.example.com"], ["a..b", "a b", "-a.com"]),
        (REPO_ID, [12, "12"], ["x", -1, True, 1.5, "١٢", None]),
    ],
)
def test_ids_of_each_format(kind: Any, good: list[Any], bad: list[Any]) -> None:
    for value in good:
        assert kind.check(value) == str(value)
    for value in bad:
        with pytest.raises(Invalid):
            kind.check(value)


def test_query_parameters_are_plain_decimals() -> None:
    after, wait = QueryInt(minimum=0), QueryNumber(minimum=0)
    assert after.check("12") == 12 and wait.check("2.5") == 2.5 and wait.check("1e1") == 10.0
    for text in ["abc", "-5", "1.5", "", " 12", "1_000", "١٢", "9" * 5000]:
        with pytest.raises(Invalid):
            after.check(text)
    for text in ["nan", "inf", "-1", "1e999", "soon"]:
        with pytest.raises(Invalid):
            wait.check(text)
