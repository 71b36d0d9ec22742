"""Response headers a function sets through eventHttpHeaderAdd and eventHttpRedirect: names that are not
tokens and values with control characters never reach the response; CR/LF become spaces as in Go."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import pytest

from dream.wasm import FunctionModule, HttpResponse
from tests.substrate.conftest import MB, get

# What no header of a response may carry: CR, LF, NUL or another control character but HTAB.
CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")
TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
AFTER = ("X-After", "still here")  # the header the guest adds after the one under test


@pytest.fixture
def headers(load: Callable[..., FunctionModule]) -> FunctionModule:
    return load("headers")


def run(module: FunctionModule, export: str, **req: object) -> HttpResponse:
    response = module.call(export, get(**req), timeout=2, memory_limit=16 * MB)  # type: ignore[arg-type]
    for name, value in response.headers:
        assert TOKEN.match(name), f"header name {name!r} reached the response"
        assert not CONTROL.search(value), f"header value {value!r} reached the response"
    return response


def add(module: FunctionModule, name: str, value: str = "v") -> HttpResponse:
    return run(module, "add", query=[("name", name), ("value", value)])


@pytest.mark.parametrize(
    "name",
    [
        "X-A\r\nSet-Cookie",  # the injection
        "X-A\nSet-Cookie",
        "X-A\r",
        "X-\x00A",
        "X A",  # a space
        "X-A:",
        "",
        "X-Ä",  # not ASCII
        "X-\x7f",
    ],
)
def test_a_name_that_is_not_a_token_is_dropped_with_errno_5(
    headers: FunctionModule, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "dream.wasm.headers"):
        response = add(headers, name, "evil=1")
    assert response.body == b"add=5"
    assert response.headers == [AFTER]  # the function goes on: later headers are kept
    [line] = caplog.messages
    assert line.startswith(f"functions/headers: response header name {name!r} is not a token (RFC 9110: ")
    assert line.endswith("; the header was dropped")


@pytest.mark.parametrize(
    ("value", "sent"),
    [
        ("ok\r\nSet-Cookie: evil=1", "ok  Set-Cookie: evil=1"),  # the injection, kept on one line
        ("a\nb", "a b"),
        ("a\rb", "a b"),
        ("\r\n", ""),
        ("  spaced\t ", "spaced"),  # trimmed at both ends, as Go's textproto.TrimString
        ("tab\tinside", "tab\tinside"),  # HTAB is allowed in a value
        ("caf\u00e9", "caf\u00e9"),  # obs-text is sent as latin-1 by the server
        ("no\u00a0break", "no\u00a0break"),  # not "printable" to Python, fine in a header
    ],
)
def test_cr_and_lf_in_a_value_become_spaces_as_go_writes_them(
    headers: FunctionModule, value: str, sent: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "dream.wasm.headers"):
        response = add(headers, "x-note", value)
    assert response.body == b"add=0"
    assert response.headers == [("X-Note", sent), AFTER]
    if "\r" in value or "\n" in value:
        assert caplog.messages == [
            "functions/headers: response header X-Note has CR or LF in its value; "
            "each was replaced by a space"
        ]
    else:
        assert caplog.messages == []


@pytest.mark.parametrize("value", ["a\x00b", "\x00", "bell\x07", "esc\x1b[0m", "del\x7f", "vt\x0bff\x0c"])
def test_another_control_character_in_a_value_drops_the_header(
    headers: FunctionModule, value: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "dream.wasm.headers"):
        response = add(headers, "X-Note", value)
    assert response.body == b"add=5"
    assert response.headers == [AFTER]
    assert caplog.messages == [
        f"functions/headers: response header X-Note has a control character in its value {value!r}; "
        "the header was dropped (percent-encode or strip it)"
    ]


def test_a_content_length_that_is_not_a_number_is_dropped_as_go_does(headers: FunctionModule) -> None:
    assert add(headers, "content-length", "nonsense").headers == [AFTER]
    assert add(headers, "content-length", "-1").headers == [AFTER]
    assert add(headers, "Content-Length", " 12 ").headers == [("Content-Length", "12"), AFTER]


def test_a_valid_header_is_kept_canonical_and_a_long_bad_value_is_quoted_short(
    headers: FunctionModule, caplog: pytest.LogCaptureFixture
) -> None:
    assert add(headers, "x-my-header", "fine").headers == [("X-My-Header", "fine"), AFTER]
    assert add(headers, "X-Weird_Name!", "v").headers == [("X-Weird_name!", "v"), AFTER]
    with caplog.at_level(logging.WARNING, "dream.wasm.headers"):
        add(headers, "X-Long", "\x00" + "x" * 5000)
    [line] = caplog.messages
    assert len(line) < 300 and line.endswith("...'; the header was dropped (percent-encode or strip it)")


def test_a_redirect_to_a_target_with_crlf_stays_one_location_line(
    headers: FunctionModule, caplog: pytest.LogCaptureFixture
) -> None:
    target = "/next\r\nSet-Cookie: evil=1"  # e.g. ?to=/next%0D%0ASet-Cookie:%20evil=1
    with caplog.at_level(logging.WARNING, "dream.wasm.headers"):
        response = run(headers, "redirect", path="/app/go", query=[("to", target)])
    assert response.status == 302
    assert response.headers == [
        ("Location", "/next  Set-Cookie: evil=1"),
        ("Content-Type", "text/html; charset=utf-8"),
    ]
    assert response.body.endswith(b"redirect=0")
    assert caplog.messages == [
        f"functions/headers: redirect target {target!r} has CR or LF; each was replaced by a space in "
        "Location (percent-encode: %0D, %0A)"
    ]


def test_a_redirect_to_a_target_with_another_control_character_is_refused(
    headers: FunctionModule, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "dream.wasm.headers"):
        response = run(headers, "redirect", query=[("to", "/x\x00y")])
    assert (response.status, response.headers, response.body) == (200, [], b"redirect=5")
    assert caplog.messages == [
        "functions/headers: redirect target '/x\\x00y' has a control character; the redirect was "
        "refused (percent-encode it, e.g. %00)"
    ]


def test_a_redirect_keeps_go_behaviour_for_clean_targets(headers: FunctionModule) -> None:
    relative = run(headers, "redirect", path="/app/page", query=[("to", "../caf\u00e9?q=1")])
    assert (relative.status, relative.header("Location")) == (302, "/caf%C3%A9?q=1")  # non-ASCII hex-escaped
    absolute = run(headers, "redirect", query=[("to", "https://example.com/a b")])
    assert absolute.header("Location") == "https://example.com/a b"


def test_one_log_line_per_call_however_many_bad_headers(
    load: Callable[..., FunctionModule], caplog: pytest.LogCaptureFixture
) -> None:
    # The `add` export, patched to add the header under test three times.
    call = (
        "(call $say (local.get $ev) (i32.const 40) (i32.const 4)\n"
        "      (call $headerAdd (local.get $ev) (i32.const 1024) (local.get $n) (i32.const 8192) (local.get $v)))"
    )
    module = load("headers", **{call: "\n".join([call] * 3)})
    with caplog.at_level(logging.WARNING, "dream.wasm.headers"):
        response = run(module, "add", query=[("name", "X-\x00"), ("value", "v")])
    assert response.body == b"add=5add=5add=5" and response.headers == [AFTER]
    assert len(caplog.messages) == 2
    assert caplog.messages[0].startswith("functions/headers: response header name 'X-\\x00' is not a token")
    assert caplog.messages[1] == (
        "functions/headers: 3 response header problems in one call (the first is logged above)"
    )
