"""Pub-sub with upstream-style Go functions built by monkey, over two substrates: an HTTP function
publishes, the functions subscribed to the channel each run once per message (one of them traps, the
others still get it), `setSubscriptionChannel`, `getWebSocketURL`, `dream pubsub publish` and `tail`
through the daemon, bad input (unknown channel, a message over the limit), and websocket clients of a
channel through each substrate and through the gateway."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from dream.errors import DreamError
from dream.http.websocket import MAX_MESSAGE as WS_MAX
from dream.substrate.pubsub import MAX_MESSAGE
from dream.testing.harness import DaemonProcess, UniverseHandle, wait_for

pytestmark = pytest.mark.e2e

FANOUT = Path(__file__).parent / "projects" / "fanout"
HOST = {"host": "fanout.events.com"}
PROJECT = "QmEventsFanoutProject0000000000000000000000001"
SHAPE = {
    "Services": {"tns": {}, "hoarder": {}, "seer": {}, "substrate": {"Others": {"copies": 2}}, "gateway": {}},
    "Simples": {},
}


@pytest.fixture(scope="module")
def fanout(module_universe_factory: Any) -> UniverseHandle:
    universe: UniverseHandle = module_universe_factory("pubsub", config=SHAPE)
    universe.client.fixture(universe.name, "buildLocalProject", ["", "", str(FANOUT), ""])
    return universe


def substrates(universe: UniverseHandle) -> list[str]:
    nodes = sorted(
        (n for n in universe.nodes() if n["name"].startswith("substrate@")), key=lambda n: n["name"]
    )
    return [f"http://127.0.0.1:{n['value']['http']}" for n in nodes]


def publish(url: str, channel: str, data: bytes) -> httpx.Response:
    return httpx.post(f"{url}/publish", params={"channel": channel}, content=data, headers=HOST, timeout=60)


def seen(url: str, prefix: str = "") -> list[str]:
    answer = httpx.get(f"{url}/seen", params={"prefix": prefix}, headers=HOST, timeout=60)
    assert answer.status_code == 200, answer.text
    return [k for k in answer.text.split(",") if k]


def logs(universe: UniverseHandle) -> str:
    root = Path(universe.client.status()[universe.name]["root"])
    return "".join(p.read_text(errors="replace") for p in root.rglob("node.log"))


def test_a_publish_from_http_runs_each_subscriber_once_on_either_substrate(fanout: UniverseHandle) -> None:
    one, other = substrates(fanout)
    messages = [f"order-{i}".encode() for i in range(6)]
    for index, data in enumerate(messages):
        answer = publish(one if index % 2 else other, "orders", data)
        assert (answer.status_code, answer.text) == (200, "published")
    expected = {f"{fn}/{m.decode()}" for fn in ("record", "audit") for m in messages}
    wait_for(lambda: expected <= set(seen(one)), "every message recorded by both subscribers")
    assert set(seen(other)) >= expected  # the same database through the other substrate
    value = httpx.get(f"{one}/seen", params={"key": "record/order-3"}, headers=HOST, timeout=30).text
    assert value == "orders:7"  # the channel and the data the function was given

    def deliveries(function: str) -> int:
        return len(re.findall(rf"on channel `orders` to function `{function}` of project", logs(fanout)))

    # The log line follows the database write: wait for it, then for nothing more to come.
    wait_for(lambda: deliveries("record") >= 6 and deliveries("audit") >= 6, "the deliveries' log lines")
    assert deliveries("record") == 6 and deliveries("audit") == 6  # once each, across both substrates
    text = logs(fanout)
    # boom traps on each message: logged with the channel and the size; the others got it anyway
    assert (
        len(
            re.findall(
                r"pub-sub function `boom` of project \S+ failed on a message of 7 bytes on channel `orders`",
                text,
            )
        )
        == 6
    )


def test_setsubscriptionchannel_subscribes_a_function_on_every_substrate(fanout: UniverseHandle) -> None:
    one, other = substrates(fanout)
    answer = httpx.get(f"{one}/late", params={"channel": "late"}, headers=HOST, timeout=60)
    assert (answer.status_code, answer.text) == (200, "subscribed")
    wait_for(
        lambda: publish(other, "late", b"after").status_code == 200 and "late/after" in seen(one),
        "the late subscriber to get a message published through the other substrate",
        timeout=30,
    )
    refused = httpx.get(f"{one}/late", params={"channel": "nothing"}, headers=HOST, timeout=60)
    assert refused.status_code == 500 and "subscribe failed" in refused.text


def test_publish_to_an_unknown_channel_gets_errno_21_and_serving_goes_on(fanout: UniverseHandle) -> None:
    url = substrates(fanout)[0]
    answer = publish(url, "nope", b"x")
    assert answer.status_code == 500
    assert "publish failed" in answer.text
    assert "no messaging channel of project `QmEventsFanoutProject" in logs(fanout)
    assert publish(url, "orders", b"still-fine").text == "published"


def test_a_message_up_to_the_limit_is_published_and_one_byte_more_is_refused(fanout: UniverseHandle) -> None:
    url = substrates(fanout)[0]
    at_limit = b"L" * MAX_MESSAGE
    assert publish(url, "orders", at_limit).text == "published"
    wait_for(lambda: "record/" + "L" * 24 in seen(url, "record/L"), "the message at the limit to be recorded")
    over = publish(url, "orders", b"O" * (MAX_MESSAGE + 1))
    assert over.status_code == 500 and "publish failed" in over.text
    assert (
        f"a message of {MAX_MESSAGE + 1} bytes on channel `orders` is over the {MAX_MESSAGE} bytes"
        in logs(fanout)
    )


def test_websocket_url_of_a_channel_with_and_without_websocket(fanout: UniverseHandle) -> None:
    url = substrates(fanout)[0]
    path = httpx.get(f"{url}/wsurl", params={"channel": "chat-lobby"}, headers=HOST, timeout=60)
    assert path.status_code == 200
    assert re.fullmatch(r"ws-Qm[1-9A-HJ-NP-Za-km-z]{44}/chat-lobby", path.text)
    refused = httpx.get(f"{url}/wsurl", params={"channel": "orders"}, headers=HOST, timeout=60)
    assert refused.status_code == 500 and "getting the websocket url of `orders` failed" in refused.text


def test_dream_pubsub_publish_and_tail_through_the_daemon(fanout: UniverseHandle) -> None:
    client, name = fanout.client, fanout.name
    start = client.tail(name, "orders")
    published = client.publish(name, "orders", b"from-cli", project="fanout")
    assert published["projects"] == [PROJECT] and published["functions"] == 3
    url = substrates(fanout)[1]
    wait_for(lambda: "record/from-cli" in seen(url, "record/"), "the CLI's message to be recorded")
    # the plugin's helper: publish, then wait for the subscribed function's effect
    assert fanout.publish("orders", b"helper", project="fanout", effect=lambda: "audit/helper" in seen(url))
    found = client.tail(name, "orders", after=start["seq"], wait=10, peer=start["peer"])
    datas = [base64.b64decode(m["data"]) for m in found["messages"]]
    assert b"from-cli" in datas
    message = found["messages"][datas.index(b"from-cli")]
    assert (message["project"], message["channel"], message["source"]) == (PROJECT, "orders", "dream")
    # without a project: every project with a matching channel
    assert client.publish(name, "late", b"any")["projects"] == [PROJECT]
    with pytest.raises(
        DreamError, match=r"no messaging channel of project `QmEventsFanout\w+` matches `nope`"
    ):
        client.publish(name, "nope", b"x", project=PROJECT)
    with pytest.raises(
        DreamError, match="no project of the universe has a messaging channel matching `nope`"
    ):
        client.publish(name, "nope", b"x")


def test_the_cli_publishes_and_tails(fanout: UniverseHandle, dream_daemon: DaemonProcess) -> None:
    def dream(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dream", *args],
            env=dream_daemon.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    tail = subprocess.Popen(
        [sys.executable, "-m", "dream", "pubsub", "tail", "orders", "-n", "1", "-u", fanout.name],
        env=dream_daemon.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Published until the tail has seen one (it starts following a moment after it is started).
        wait_for(
            lambda: (
                dream("pubsub", "publish", "orders", "tailed", "-p", "fanout", "-u", fanout.name).returncode
                == 0
                and tail.poll() is not None
            ),
            "`dream pubsub tail` to print a message published by `dream pubsub publish`",
            timeout=60,
        )
        out, err = tail.communicate(timeout=10)
    finally:
        if tail.poll() is None:
            tail.kill()
            tail.wait()
    assert tail.returncode == 0, err
    assert re.fullmatch(rf"\d\d:\d\d:\d\d\.\d{{3}} {PROJECT} orders dream: tailed\n", out)
    done = dream("pubsub", "publish", "orders", "hi", "-p", "fanout", "-u", fanout.name)
    assert done.stdout == f"published 2 bytes on `orders` in {PROJECT} to 3 function(s)\n"
    refused = dream("pubsub", "publish", "nope", "hi", "-u", fanout.name)
    assert refused.returncode == 1
    assert (
        "no project of the universe has a messaging channel matching `nope`"
        in refused.stderr + refused.stdout
    )


# -- websockets ----------------------------------------------------------------------------------------


def socket_path(universe: UniverseHandle, channel: str) -> str:
    answer = httpx.get(
        f"{substrates(universe)[0]}/wsurl", params={"channel": channel}, headers=HOST, timeout=60
    )
    assert answer.status_code == 200, answer.text
    return "/" + answer.text


async def _recv(ws: Any) -> bytes:
    return bytes(await asyncio.wait_for(ws.recv(), 15))


def test_two_websocket_clients_see_each_other_through_substrates_and_gateway(fanout: UniverseHandle) -> None:
    from websockets.asyncio.client import connect

    path = socket_path(fanout, "chat-lobby")
    one, other = substrates(fanout)
    gateway = f"http://127.0.0.1:{fanout.port('gateway')}"

    async def scenario() -> None:
        urls = [u.replace("http://", "ws://") + path for u in (one, other, gateway)]
        async with connect(urls[0]) as a, connect(urls[1]) as b, connect(urls[2]) as c:
            # joined: a message published now reaches all three (a publish from HTTP, via a function)
            async def joined() -> bool:
                publish(one, "chat-lobby", b"ping")
                got = await asyncio.gather(_recv(a), _recv(b), _recv(c))
                return got == [b"ping"] * 3

            assert await joined()
            await a.send(b"hello from a")  # on substrate one
            assert await _recv(b) == b"hello from a"  # on substrate two
            assert await _recv(c) == b"hello from a"  # through the gateway
            await c.send("hi from c")  # text, through the gateway
            assert await _recv(a) == b"hi from c" and await _recv(b) == b"hi from c"
            await b.send(b"\x00\xffbinary")
            assert await _recv(a) == b"\x00\xffbinary" and await _recv(c) == b"\x00\xffbinary"
            # a sender does not get its own message back: the next one c gets is a's
            await a.send(b"last")
            assert await _recv(c) == b"last" and await _recv(b) == b"last"

    asyncio.run(scenario())
    # what the clients sent was published on the channel like any message
    assert b"hello from a" in [
        base64.b64decode(m["data"])
        for m in fanout.client.tail(fanout.name, "chat-lobby", after=0)["messages"]
    ]


def test_a_local_channel_keeps_its_messages_on_the_substrate_they_were_published_on(
    fanout: UniverseHandle,
) -> None:
    from websockets.asyncio.client import connect

    path = socket_path(fanout, "near-room")
    one, other = substrates(fanout)

    async def scenario() -> None:
        on_one, on_other = (u.replace("http://", "ws://") + path for u in (one, other))
        async with connect(on_one) as a, connect(on_one) as a2, connect(on_other) as b:

            async def joined() -> bool:  # all three are listening once each gets its substrate's publish
                publish(one, "near-room", b"here-one")
                publish(other, "near-room", b"here-two")
                got = await asyncio.gather(_recv(a), _recv(a2), _recv(b))
                return got == [b"here-one", b"here-one", b"here-two"]

            assert await joined()
            await a.send(b"from-a")  # a client on substrate one: its neighbour sees it ...
            assert await _recv(a2) == b"from-a"
            await b.send(b"from-b")  # ... and b's stays on substrate two
            assert publish(one, "near-room", b"one-again").text == "published"
            assert publish(other, "near-room", b"two-again").text == "published"
            # each client's next message is its own substrate's: nothing crossed over
            assert await _recv(a) == b"one-again" and await _recv(a2) == b"one-again"
            assert await _recv(b) == b"two-again"

    asyncio.run(scenario())
    assert fanout.client.tail(fanout.name, "near-room", after=0)["messages"]  # kept by the tailed copy


def test_an_upgrade_on_a_channel_without_websocket_is_refused_clearly(fanout: UniverseHandle) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    lobby = socket_path(fanout, "chat-lobby")
    orders = lobby.rsplit("/", 1)[0] + "/orders"
    one = substrates(fanout)[0].replace("http://", "ws://")
    gateway = f"ws://127.0.0.1:{fanout.port('gateway')}"

    async def refused(url: str) -> tuple[int, str]:
        try:
            async with connect(url):
                pass
        except InvalidStatus as exc:
            return exc.response.status_code, (exc.response.body or b"").decode()
        raise AssertionError(f"{url} took the upgrade")

    for base in (one, gateway):
        status, text = asyncio.run(refused(base + orders))
        assert status == 403
        assert f"channel `orders` of project {PROJECT} has no websocket" in text
        assert "bridges.websocket.enable: true" in text
        status, text = asyncio.run(refused(base + "/ws-QmNope/x"))
        assert status == 404 and "websocket path is /ws-<hash>/<channel>" in text
    # plain requests are still served
    assert publish(substrates(fanout)[0], "orders", b"after-refusals").text == "published"


def test_a_websocket_message_over_the_limit_closes_with_1009(fanout: UniverseHandle) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    url = substrates(fanout)[0].replace("http://", "ws://") + socket_path(fanout, "chat-big")

    async def scenario() -> int | None:
        async with connect(url, max_size=None) as a, connect(url, max_size=None) as b:
            await a.send(b"x" * WS_MAX)  # at the limit: delivered
            assert len(await _recv(b)) == WS_MAX
            await a.send(b"x" * (WS_MAX + 1))
            try:
                await asyncio.wait_for(a.recv(), 15)
            except ConnectionClosed as exc:
                return exc.rcvd.code if exc.rcvd else None
        return None

    assert asyncio.run(scenario()) == 1009


def test_a_setsubscriptionchannel_subscription_outlives_a_kill_9_of_the_substrates(
    fanout: UniverseHandle,
) -> None:
    one, other = substrates(fanout)
    answer = httpx.get(f"{one}/late", params={"channel": "kept"}, headers=HOST, timeout=60)
    assert (answer.status_code, answer.text) == (200, "subscribed")
    before = {n["id"]: n for n in fanout.nodes() if n["name"].startswith("substrate@")}
    for node in before.values():
        os.kill(node["pid"], signal.SIGKILL)

    def back() -> bool:
        now = [n for n in fanout.nodes() if n["id"] in before]
        return all(n["state"] == "up" and n["pid"] not in (None, before[n["id"]]["pid"]) for n in now)

    wait_for(back, "both substrates to be restarted", timeout=90)
    # Neither restarted copy was told of the subscription: each reads it from tns.
    for url, data in ((one, "kept-one"), (other, "kept-two")):
        message = data.encode()
        wait_for(lambda u=url, m=message: publish(u, "kept", m).status_code == 200, f"{url} to publish")
        wait_for(lambda d=data: f"late/{d}" in seen(one, "late/"), f"`late` to get {data} after the restart")
    assert logs(fanout).count("to function `late` of project") >= 2


# Last in the module: it changes the project.
def test_a_function_whose_config_moves_it_is_subscribed_where_it_says(
    fanout: UniverseHandle, tmp_path: Path
) -> None:
    one = substrates(fanout)[0]
    changed = tmp_path / "fanout"
    shutil.copytree(FANOUT, changed)
    config = changed / "config" / "functions" / "audit.yaml"
    config.write_text(config.read_text().replace("channel: orders", "channel: late"))
    fanout.client.fixture(fanout.name, "buildLocalProject", ["", "", str(changed), ""])
    audits = logs(fanout).count("to function `audit` of project")
    wait_for(
        lambda: (
            publish(one, "orders", b"after-audit-went").text == "published"
            and "record/after-audit-went" in seen(one, "record/")
        ),
        "a message after the new config to reach record",
        timeout=60,
    )
    # A second message, once record has it, audit would have had the first by then too.
    assert publish(one, "orders", b"and-another").text == "published"
    wait_for(lambda: "record/and-another" in seen(one, "record/"), "the second message to reach record")
    assert not [k for k in seen(one, "audit/") if k in ("audit/after-audit-went", "audit/and-another")]
    assert logs(fanout).count("to function `audit` of project") == audits
    # and it gets the channel its config now names
    assert publish(one, "late", b"audit-moved").text == "published"
    wait_for(lambda: "audit/audit-moved" in seen(one, "audit/"), "audit to get a message of its new channel")
