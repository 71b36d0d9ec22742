"""How the dashboard shows a channel's message: its bytes as text, at most MESSAGE_SHOWN of them, and its
size (docs/console.md, ### Databases, storages and channels)."""

from __future__ import annotations

import base64

from dream.daemon.console.channels import MESSAGE_SHOWN, message_view


def kept(data: bytes) -> dict[str, object]:
    """A message as a substrate's tail answers it."""
    return {
        "seq": 3,
        "project": "Qm",
        "app": "",
        "channel": "news",
        "data": base64.b64encode(data).decode(),
        "source": "dream",
        "at": 1.5,
    }


def test_a_message_at_the_limit_is_shown_whole_and_one_byte_more_is_cut() -> None:
    whole = message_view(kept(b"a" * MESSAGE_SHOWN))
    assert (whole["text"], whole["size"]) == ("a" * MESSAGE_SHOWN, MESSAGE_SHOWN)
    cut = message_view(kept(b"a" * MESSAGE_SHOWN + b"b"))
    assert (cut["text"], cut["size"]) == ("a" * MESSAGE_SHOWN, MESSAGE_SHOWN + 1)
    assert {k: whole[k] for k in ("seq", "channel", "project", "source", "at")} == {
        "seq": 3,
        "channel": "news",
        "project": "Qm",
        "source": "dream",
        "at": 1.5,
    }


def test_bytes_that_are_not_text_are_shown_replaced() -> None:
    shown = message_view(kept(b"\xff\xfeok"))
    assert shown["text"] == "\ufffd\ufffdok" and shown["size"] == 4
