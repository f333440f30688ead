"""Test helpers around the hub: run it (in-process or as `vigie-hub serve`), feed it events."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import httpx
import paho.mqtt.client as mqtt
import uvicorn
from paho.mqtt.enums import CallbackAPIVersion
from starlette.types import ASGIApp

from hub.app import create_app
from hub.config import HubSettings
from hub.db.engine import Database, open_database
from hub.db.schema import create_schema
from hub.users.roles import Role
from hub.users.service import create_api_token, create_user, utc_now
from tests.services import PostgisCluster, free_port
from vigie_contract import Detection, EventV1, Location, ModelInfo, event_topic

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[1]
HUB_START_TIMEOUT_S = 30.0
HUB_STOP_TIMEOUT_S = 15.0
PUBLISH_TIMEOUT_S = 10.0
TEST_PASSWORD = "correct horse battery staple"


def wait_until(condition: Callable[[], T], timeout: float = 10.0, what: str = "condition") -> T:
    """Poll `condition` until it returns something truthy and return it; fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def healthz_status(base_url: str) -> int | None:
    """The HTTP status of GET /healthz, or None while nothing answers."""
    try:
        return httpx.get(f"{base_url}/healthz", timeout=5).status_code
    except httpx.TransportError:
        return None


def healthz_ok(base_url: str) -> bool:
    """True when GET /healthz answers 200."""
    return healthz_status(base_url) == 200


def hub_settings(database_url: str, mqtt_url: str, **overrides: object) -> HubSettings:
    """Settings for a test hub with a client id, and a shared-subscription group, of its own.

    Sharing the default id would hand a test the persistent session, and so the queued
    messages, that an earlier test's hub left on the broker. A group of its own makes it
    subscribe as production replicas do, and keeps out the retained statuses that earlier
    tests' agents left on the session-wide broker (shared subscriptions get no retained
    messages); pass mqtt_shared_group=None to receive them.
    """
    client_id = f"vigie-hub-test-{uuid.uuid4().hex[:10]}"
    if not overrides.get("mqtt_embedded"):
        overrides.setdefault("mqtt_shared_group", client_id)
    return HubSettings(
        database_url=database_url, mqtt_url=mqtt_url, mqtt_client_id=client_id, **overrides
    )


@contextmanager
def running_hub(settings: HubSettings, require_healthy: bool = True) -> Iterator[str]:
    """Serve create_app(settings) in a thread on a free port; yield its base URL once healthy.

    settings.http_host/http_port are ignored: the hub listens on 127.0.0.1 and a free port.
    With require_healthy=False it is yielded as soon as /healthz answers at all.
    """

    def ready(base_url: str) -> bool:
        status = healthz_status(base_url)
        return status == 200 or (status is not None and not require_healthy)

    with serving(create_app(settings), ready, settings.http_ws_compression) as base_url:
        yield base_url


@contextmanager
def serving(
    app: ASGIApp, ready: Callable[[str], bool], ws_compression: bool = False
) -> Iterator[str]:
    """Serve an ASGI app under uvicorn in a thread on a free port; yield its base URL once ready."""
    port = free_port()
    # proxy_headers=False, as `vigie-hub serve` runs it: X-Forwarded-* trust is the hub's setting.
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        proxy_headers=False,
        ws_per_message_deflate=ws_compression,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="app-under-test", daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: ready(base_url) or not thread.is_alive(),
            HUB_START_TIMEOUT_S,
            f"the app at {base_url} to be ready",
        )
        if not thread.is_alive():
            raise AssertionError("the app stopped during start-up (see the log above)")
        yield base_url
    finally:
        server.should_exit = True
        thread.join(HUB_STOP_TIMEOUT_S)


@contextmanager
def hub_process(env: Mapping[str, str], log_path: Path) -> Iterator[tuple[subprocess.Popen, str]]:
    """Run `vigie-hub serve` on a free port with extra env vars; yield (process, base_url).

    The process's output goes to log_path. On exit it gets SIGTERM (SIGKILL if it hangs).
    """
    port = free_port()
    command = [str(Path(sys.executable).with_name("vigie-hub")), "serve", "--port", str(port)]
    base_url = f"http://127.0.0.1:{port}"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command, env=subprocess_env(env), stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_until(
            lambda: healthz_ok(base_url) or process.poll() is not None,
            HUB_START_TIMEOUT_S,
            f"vigie-hub at {base_url} to be healthy",
        )
        if process.poll() is not None:
            raise AssertionError(f"vigie-hub exited with {process.returncode}:\n{_tail(log_path)}")
        yield process, base_url
    finally:
        stop_process(process)


def subprocess_env(extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment plus `extra`, importing the working tree's packages first."""
    # A console script's sys.path starts at the venv's bin/, not here: without this an editable
    # install could resolve `hub` to a stale location.
    python_path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": python_path, **extra}


def stop_process(process: subprocess.Popen) -> int:
    """SIGTERM the process, SIGKILL it if it does not exit in time; return its exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(HUB_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


@contextmanager
def opened_database(url: str) -> Iterator[Database]:
    """The hub's database at `url` with its schema created; closed afterwards."""
    database = open_database(url)
    try:
        create_schema(database.engine)
        yield database
    finally:
        database.close()


def block_connections(cluster: PostgisCluster, database_name: str) -> None:
    """Make the database refuse every connection and drop the open ones."""
    cluster.psql(f"ALTER DATABASE {database_name} ALLOW_CONNECTIONS false")
    cluster.psql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{database_name}' AND pid <> pg_backend_pid()"
    )


def allow_connections(cluster: PostgisCluster, database_name: str) -> None:
    """Let the database accept connections again."""
    cluster.psql(f"ALTER DATABASE {database_name} ALLOW_CONNECTIONS true")


def add_user(database_url: str, role: str = "viewer", password: str = TEST_PASSWORD) -> str:
    """Create a user with `role` (and a fresh name) in the hub's database; its username."""
    username = f"{role}-{uuid.uuid4().hex[:8]}"
    with opened_database(database_url) as database, database.sessions.begin() as session:
        create_user(session, username, password, Role(role), utc_now())
    return username


def api_token(database_url: str, role: str = "viewer") -> str:
    """A bearer token of a fresh user with `role`, created directly in the hub's database."""
    username = f"{role}-{uuid.uuid4().hex[:8]}"
    with opened_database(database_url) as database, database.sessions.begin() as session:
        user = create_user(session, username, TEST_PASSWORD, Role(role), utc_now())
        return create_api_token(session, user, "tests", utc_now())[1]


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of a bearer token."""
    return {"Authorization": f"Bearer {token}"}


@contextmanager
def logged_in_client(
    base_url: str, username: str, password: str = TEST_PASSWORD
) -> Iterator[httpx.Client]:
    """An httpx client holding a browser session's cookies and sending its CSRF header."""
    with httpx.Client(base_url=base_url, timeout=10) as client:
        credentials = {"username": username, "password": password}
        response = client.post("/api/auth/login", json=credentials)
        response.raise_for_status()
        client.headers["X-CSRF-Token"] = response.json()["csrf_token"]
        yield client


def log_in_browser(context, base_url: str, username: str, password: str = TEST_PASSWORD) -> None:
    """Log a Playwright browser context in: its pages then carry the session cookie."""
    response = context.request.post(
        f"{base_url}/api/auth/login", data={"username": username, "password": password}
    )
    if not response.ok:
        raise AssertionError(f"login as {username} answered HTTP {response.status}")


def make_event(
    agent_id: str = "agent-1",
    camera_id: str = "cam-1",
    lat: float = 48.8566,
    lon: float = 2.3522,
    **changes: object,
) -> EventV1:
    """A valid v1 event with a fresh event_id; keyword arguments replace top-level fields."""
    fields = {
        "event_id": uuid.uuid4(),
        "agent_id": agent_id,
        "camera_id": camera_id,
        # Now, to the millisecond (as browsers show it): the hub rejects events far in the past.
        "captured_at": _now_to_the_millisecond(),
        "threat_type": "weapon",
        "severity": "high",
        "detections": [Detection(label="knife", score=0.87, box=(0.1, 0.2, 0.3, 0.6), track_id=4)],
        "location": Location(lat=lat, lon=lon, source="camera", accuracy_m=15.0),
        "perimeter_m": 50.0,
        "model": ModelInfo(name="ssd_mobilenet_v1_coco_quant"),
    }
    return EventV1(**{**fields, **changes})


def _now_to_the_millisecond() -> datetime:
    now = datetime.now(timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def topic_of(event: EventV1) -> str:
    """The event topic the event's own agent and camera publish on."""
    return event_topic(event.agent_id, event.camera_id)


def publish(mqtt_url: str, messages: Iterable[tuple[str, bytes]]) -> None:
    """Publish (topic, payload) pairs with QoS 1 and return once the broker acknowledged all."""
    parts = urlsplit(mqtt_url)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.connect(parts.hostname or "127.0.0.1", parts.port or 1883)
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(PUBLISH_TIMEOUT_S)
            if not info.is_published():
                raise AssertionError(f"the broker did not acknowledge message {info.mid}")
    finally:
        client.disconnect()
        client.loop_stop()


def publish_events(mqtt_url: str, events: Iterable[EventV1]) -> None:
    """Publish each event on its own topic with QoS 1."""
    publish(mqtt_url, [(topic_of(event), event.to_json()) for event in events])


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
