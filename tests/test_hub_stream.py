"""The /ws/events stream: live push, replay with after_id, no gap, no duplicate, refusals."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosedError, InvalidStatus
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.sync.client import ClientConnection, connect
from websockets.uri import parse_uri

from hub.config import HubSettings
from hub.stream import routes as stream_routes
from hub.stream.broadcaster import Broadcaster, StreamMessage
from hub.users.install import install_auth
from tests.hubserver import (
    api_token,
    bearer,
    hub_settings,
    make_event,
    opened_database,
    publish_events,
    running_hub,
    serving,
    wait_until,
)
from vigie_contract import EventV1

pytestmark = pytest.mark.mqtt
RECEIVE_TIMEOUT_S = 15.0


def stream_url(base_url: str, after_id: int | None = None) -> str:
    """The ws:// URL of /ws/events, optionally replaying after after_id."""
    query = "" if after_id is None else f"?after_id={after_id}"
    return f"ws{base_url.removeprefix('http')}/ws/events{query}"


def next_event(websocket: ClientConnection) -> dict:
    """The data of the next event message (incident changes share the stream and are skipped)."""
    while True:
        message = json.loads(websocket.recv(timeout=RECEIVE_TIMEOUT_S))
        if message["type"] == "event":
            return message["data"]
        assert message["type"] == "incident", message


def listed(base_url: str, headers: dict[str, str]) -> list[dict]:
    """Every stored event through the API, oldest first."""
    query = {"after_id": 0, "limit": 1000}
    return httpx.get(f"{base_url}/api/events", params=query, headers=headers).json()["items"]


def wire_part(item: dict) -> dict:
    """A StoredEvent JSON without the hub's own fields."""
    return {key: value for key, value in item.items() if key not in ("id", "received_at")}


@pytest.fixture
def base_url(sqlite_url: str, mqtt_url: str) -> Iterator[str]:
    """A running hub on SQLite and the test broker."""
    with running_hub(hub_settings(sqlite_url, mqtt_url)) as url:
        yield url


@pytest.fixture
def viewer(sqlite_url: str, base_url: str) -> dict[str, str]:
    """The bearer header of a viewer of the `base_url` hub."""
    return bearer(api_token(sqlite_url))


def test_every_client_receives_each_stored_event_once(
    base_url: str, viewer: dict[str, str], mqtt_url: str
) -> None:
    first, second = make_event(), make_event(threat_type="fire", severity="critical")
    with (
        connect(stream_url(base_url), additional_headers=viewer) as alice,
        connect(stream_url(base_url), additional_headers=viewer) as bob,
    ):
        publish_events(mqtt_url, [first, first, second])
        received = {
            name: [next_event(ws), next_event(ws)] for name, ws in [("a", alice), ("b", bob)]
        }

    assert received["a"] == received["b"]
    assert [wire_part(data) for data in received["a"]] == [first.to_dict(), second.to_dict()]
    assert received["a"] == listed(base_url, viewer)


@pytest.fixture
def any_backend_hub(database_url: str, mqtt_url: str) -> Iterator[str]:
    """A running hub on each backend."""
    with running_hub(hub_settings(database_url, mqtt_url)) as url:
        yield url


def test_reconnect_with_after_id_replays_what_was_missed(
    any_backend_hub: str, database_url: str, mqtt_url: str
) -> None:
    base_url, viewer = any_backend_hub, bearer(api_token(database_url))
    seen, missed, live = make_event(), [make_event(), make_event()], make_event()
    with connect(stream_url(base_url), additional_headers=viewer) as websocket:
        publish_events(mqtt_url, [seen])
        last_id = next_event(websocket)["id"]

    publish_events(mqtt_url, missed)
    wait_until(lambda: len(listed(base_url, viewer)) == 3, RECEIVE_TIMEOUT_S, "the missed events")

    with (
        connect(stream_url(base_url, after_id=last_id), additional_headers=viewer) as resumed,
        connect(stream_url(base_url), additional_headers=viewer) as live_only,
    ):
        replayed = [next_event(resumed), next_event(resumed)]
        publish_events(mqtt_url, [live])
        after_replay = next_event(resumed)
        first_live = next_event(live_only)

    assert [wire_part(data) for data in replayed] == [event.to_dict() for event in missed]
    assert wire_part(after_replay) == live.to_dict()
    assert first_live == after_replay
    ids = [last_id] + [data["id"] for data in (*replayed, after_replay)]
    assert ids == sorted(set(ids))


def test_replay_and_live_meet_without_gap_or_duplicate(
    base_url: str, viewer: dict[str, str], mqtt_url: str
) -> None:
    before, during = [make_event() for _ in range(20)], [make_event() for _ in range(20)]
    publish_events(mqtt_url, before)
    wait_until(lambda: len(listed(base_url, viewer)) == 20, RECEIVE_TIMEOUT_S, "the first events")
    with connect(stream_url(base_url, after_id=0), additional_headers=viewer) as websocket:
        # Events keep arriving while the replay runs: some may come both ways, none may be lost.
        publisher = threading.Thread(target=publish_one_by_one, args=(mqtt_url, during))
        publisher.start()
        try:
            received = [next_event(websocket) for _ in range(40)]
        finally:
            publisher.join()

    expected = [str(event.event_id) for event in before + during]
    assert [data["event_id"] for data in received] == expected
    assert received == listed(base_url, viewer)


def publish_one_by_one(mqtt_url: str, events: list[EventV1]) -> None:
    """Publish each event in its own connection, spreading them over time."""
    for event in events:
        publish_events(mqtt_url, [event])


@pytest.mark.parametrize("after_id", ["-1", "ten"])
def test_bad_after_id_is_refused(base_url: str, viewer: dict[str, str], after_id: str) -> None:
    with (
        pytest.raises(InvalidStatus) as refused,
        connect(f"{stream_url(base_url)}?after_id={after_id}", additional_headers=viewer),
    ):
        pass
    assert refused.value.response.status_code == 403


def stream_app(sqlite_url: str, broadcaster: Broadcaster) -> FastAPI:
    """A bare app serving /ws/events from `broadcaster`, whose POST /publish/<n> publishes 1..n
    in one go, on the event loop."""
    app = FastAPI()

    @app.post("/publish/{count}")
    async def publish_some(count: int) -> None:
        broadcaster.publish_all(
            [StreamMessage(n, json.dumps({"n": n})) for n in range(1, count + 1)]
        )

    with opened_database(sqlite_url) as database:
        install_auth(app, database, HubSettings(database_url=sqlite_url))
        app.include_router(stream_routes.build_router(database, broadcaster))
    return app


def test_client_too_far_behind_is_closed_with_try_again_later(sqlite_url: str) -> None:
    broadcaster = Broadcaster(backlog=2)
    viewer = bearer(api_token(sqlite_url))
    with (
        serving(stream_app(sqlite_url, broadcaster), ready) as base_url,
        connect(stream_url(base_url), additional_headers=viewer) as ws,
    ):
        # Three messages at once: the first leaves the log before the client read it.
        httpx.post(f"{base_url}/publish/3", headers=viewer).raise_for_status()
        with pytest.raises(ConnectionClosedError) as closed:
            ws.recv(timeout=RECEIVE_TIMEOUT_S)

    # Nothing after a gap: the client reconnects with after_id and replays from the database.
    assert closed.value.rcvd.code == 1013


def test_batching_client_gets_waiting_messages_as_one_array_frame(sqlite_url: str) -> None:
    broadcaster = Broadcaster()
    viewer = bearer(api_token(sqlite_url))
    with (
        serving(stream_app(sqlite_url, broadcaster), ready) as base_url,
        connect(f"{stream_url(base_url)}?batch=true", additional_headers=viewer) as batching,
        connect(stream_url(base_url), additional_headers=viewer) as single,
    ):
        httpx.post(f"{base_url}/publish/3", headers=viewer).raise_for_status()
        frame = json.loads(batching.recv(timeout=RECEIVE_TIMEOUT_S))
        one_by_one = [json.loads(single.recv(timeout=RECEIVE_TIMEOUT_S)) for _ in range(3)]

    assert frame == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert one_by_one == frame


def test_batching_client_replays_and_follows_in_order(
    base_url: str, viewer: dict[str, str], mqtt_url: str
) -> None:
    before, during = [make_event() for _ in range(20)], [make_event() for _ in range(20)]
    publish_events(mqtt_url, before)
    wait_until(lambda: len(listed(base_url, viewer)) == 20, RECEIVE_TIMEOUT_S, "the first events")
    url = f"{stream_url(base_url, after_id=0)}&batch=true"
    with connect(url, additional_headers=viewer) as websocket:
        publish_events(mqtt_url, during)
        frames: list[list[dict]] = []
        received: list[dict] = []
        while len(received) < 40:
            frame = json.loads(websocket.recv(timeout=RECEIVE_TIMEOUT_S))
            frames.append(frame if isinstance(frame, list) else [frame])
            received += [message["data"] for message in frames[-1] if message["type"] == "event"]

    # The replay's first page, at least the 20 stored before connecting, is one frame.
    assert len(frames[0]) >= 20
    expected = [str(event.event_id) for event in before + during]
    assert [data["event_id"] for data in received] == expected
    assert received == listed(base_url, viewer)


def test_a_screen_that_stops_reading_for_a_while_then_gets_everything_in_order(
    sqlite_url: str,
) -> None:
    broadcaster = Broadcaster()
    app = FastAPI()
    padding = "x" * 20_000

    @app.post("/publish-slowly/{count}")
    async def publish_slowly(count: int) -> None:
        for n in range(1, count + 1):
            broadcaster.publish(StreamMessage(n, json.dumps({"n": n, "padding": padding})))
            await asyncio.sleep(0)  # the senders run between publishes, as with live ingest

    viewer = bearer(api_token(sqlite_url))
    with opened_database(sqlite_url) as database:
        install_auth(app, database, HubSettings(database_url=sqlite_url))
        app.include_router(stream_routes.build_router(database, broadcaster))
        with serving(app, ready) as base_url, SlowReader(stream_url(base_url), viewer) as reader:
            # 600 frames of 20 kB (12 MB, more than the kernel buffers) while the reader reads
            # nothing: the hub's transport fills and uvicorn pauses writing to it.
            httpx.post(f"{base_url}/publish-slowly/600", headers=viewer).raise_for_status()
            time.sleep(1.0)
            received = reader.read_texts(600, RECEIVE_TIMEOUT_S)

    assert [json.loads(text)["n"] for text in received] == list(range(1, 601))


class SlowReader:
    """A WebSocket client on a raw socket with a small receive buffer, reading only when told:
    what a screen on a slow link looks like to the hub."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self._uri = parse_uri(url)
        self._headers = headers
        self._socket = socket.socket()
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self._protocol = ClientProtocol(self._uri)
        self._texts: list[str] = []

    def __enter__(self) -> SlowReader:
        self._socket.connect((self._uri.host, self._uri.port))
        request = self._protocol.connect()
        for name, value in self._headers.items():
            request.headers[name] = value
        self._protocol.send_request(request)
        self._socket.sendall(b"".join(self._protocol.data_to_send()))
        # Read until the handshake's answer (and nothing much more, with this buffer).
        while self._protocol.handshake_exc is None and self._protocol.state is State.CONNECTING:
            self._receive(RECEIVE_TIMEOUT_S)
        assert self._protocol.state is State.OPEN, self._protocol.handshake_exc
        return self

    def __exit__(self, *_exc: object) -> None:
        self._socket.close()

    def read_texts(self, count: int, timeout: float) -> list[str]:
        """Read until `count` text messages arrived in all; all of them."""
        deadline = time.monotonic() + timeout
        while len(self._texts) < count and time.monotonic() < deadline:
            self._receive(deadline - time.monotonic())
        return self._texts

    def _receive(self, timeout: float) -> None:
        self._socket.settimeout(max(timeout, 0.01))
        self._protocol.receive_data(self._socket.recv(65536))
        for event in self._protocol.events_received():
            if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                self._texts.append(event.data.decode())
        # Pongs to the hub's pings, if any.
        self._socket.sendall(b"".join(self._protocol.data_to_send()))


def ready(base_url: str) -> bool:
    """True once the test app answers HTTP."""
    try:
        httpx.get(f"{base_url}/docs", timeout=5)
    except httpx.TransportError:
        return False
    return True
