"""Zero-setup mode end to end: `vigie-hub serve` with its embedded broker and SQLite."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import httpx
from websockets.sync.client import connect

from tests.hubserver import (
    api_token,
    bearer,
    hub_process,
    make_event,
    publish_events,
    stop_process,
    wait_until,
)
from tests.services import free_port

STORE_TIMEOUT_S = 15.0


def test_serve_with_the_embedded_broker_stores_and_streams_events(tmp_path: Path) -> None:
    mqtt_url = f"mqtt://127.0.0.1:{free_port()}"
    database_url = f"sqlite:///{tmp_path / 'vigie.sqlite3'}"
    env = {
        "VIGIE_DATABASE_URL": database_url,
        "VIGIE_MQTT_EMBEDDED": "true",
        "VIGIE_MQTT_URL": mqtt_url,
    }
    event = make_event()
    log = tmp_path / "hub.log"
    with hub_process(env, log) as (process, base_url):
        viewer = bearer(api_token(database_url))
        stream = f"ws{base_url.removeprefix('http')}/ws/events"
        with connect(stream, additional_headers=viewer) as websocket:
            publish_events(mqtt_url, [event, event])
            pushed = json.loads(websocket.recv(timeout=STORE_TIMEOUT_S))
        items = wait_until(
            lambda: httpx.get(f"{base_url}/api/events", headers=viewer).json()["items"],
            STORE_TIMEOUT_S,
            "the stored event",
        )
        exit_code = stop_process(process)

    assert [item["event_id"] for item in items] == [str(event.event_id)]
    assert pushed == {"type": "event", "data": items[0]}
    # uvicorn shuts down cleanly, then re-raises SIGTERM so the exit status tells why it ended.
    assert exit_code == -signal.SIGTERM
    output = log.read_text()
    assert "embedded MQTT broker listening" in output
    assert "Application shutdown complete" in output
    assert "Traceback" not in output
