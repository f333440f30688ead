"""The walking skeleton end to end: a real clip through a real agent to a marker on the live map.

Real parts only: the agent process runs the default TFLite model on `worker-zone-detection.gif` and
publishes to a real Mosquitto; a `vigie-hub serve` process stores the threat (PostGIS, then SQLite),
pushes it to a WebSocket client, and headless Chromium finds the marker and its perimeter circle.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import yaml
from websockets.sync.client import connect

from tests.hubserver import add_user, api_token, bearer, hub_process, log_in_browser, wait_until

AGENT_TIMEOUT_S = 180


def write_agent_config(tmp_path: Path, mqtt_url: str, models: Path, media: Path) -> Path:
    """An agent with one camera replaying the worker clip once, as fast as it can."""
    config = {
        "agent_id": "e2e-agent",
        "mqtt": {"url": mqtt_url, "client_id": f"e2e-agent-{uuid.uuid4().hex[:8]}"},
        "outbox_path": str(tmp_path / "outbox.sqlite3"),
        "detector": {"model": str(models / "mobilenet_ssd_v2_coco_quant_postprocess.tflite")},
        "cameras": [
            {
                "id": "cam-hall",
                "source": {"type": "file", "path": str(media / "worker-zone-detection.gif")},
                "interval_s": 0,
                "position": {"lat": 48.85795, "lon": 2.34655, "accuracy_m": 20.0},
                "rules": [
                    {
                        "labels": ["person"],
                        "threat_type": "intrusion",
                        "severity": "high",
                        "min_score": 0.6,
                        "confirm_frames": 3,
                        # Longer than the clip: the worker is one threat, reported once.
                        "cooldown_s": 3600,
                        "perimeter_m": 75,
                    }
                ],
            }
        ],
    }
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def collect_websocket(
    url: str,
    headers: dict[str, str],
    into: list[dict],
    ready: threading.Event,
    stop: threading.Event,
):
    """Receive JSON messages from a WebSocket until stop is set."""
    with connect(url, additional_headers=headers, open_timeout=10) as socket:
        ready.set()
        while not stop.is_set():
            try:
                into.append(json.loads(socket.recv(timeout=0.2)))
            except TimeoutError:
                continue


def open_map_and_read_layers(
    browser, base_url: str, username: str, event_id: str, screenshot: Path
) -> dict:
    """Log in, open the live map and read the event's marker position and circle radius."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    log_in_browser(context, base_url, username)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{base_url}/map/")
    page.wait_for_function(
        "id => window.vigieMap && window.vigieMap.byEventId.get(id)", arg=event_id, timeout=15000
    )
    layers = page.evaluate(
        """id => {
            const entry = window.vigieMap.byEventId.get(id);
            const pos = entry.marker.getLatLng();
            const map = window.vigieMap.map;
            return {lat: pos.lat, lon: pos.lng, radius: entry.perimeter.getRadius(),
                    markerOnMap: map.hasLayer(entry.marker),
                    circleOnMap: map.hasLayer(entry.perimeter)};
        }""",
        event_id,
    )
    page.screenshot(path=str(screenshot))
    context.close()
    return layers | {"errors": errors}


@pytest.mark.parametrize("backend", ["postgis", "sqlite"])
def test_threat_in_a_real_clip_reaches_the_live_map(
    backend, request, mqtt_url, models, media, browser, tmp_path, artifacts_dir
):
    database_url = request.getfixturevalue(f"{backend}_url")
    hub_env = {
        "VIGIE_DATABASE_URL": database_url,
        "VIGIE_MQTT_URL": mqtt_url,
        "VIGIE_MQTT_CLIENT_ID": f"hub-e2e-{uuid.uuid4().hex[:8]}",
        # No internet here: a map without tiles, as on a closed network.
        "VIGIE_MAP_TILE_URL": "",
    }
    with hub_process(hub_env, tmp_path / "hub.log") as (_, base_url):
        viewer = bearer(api_token(database_url))
        received: list[dict] = []
        ready, stop = threading.Event(), threading.Event()
        listener = threading.Thread(
            target=collect_websocket,
            args=(base_url.replace("http", "ws") + "/ws/events", viewer, received, ready, stop),
        )
        listener.start()
        try:
            assert ready.wait(10), "the WebSocket did not open"
            config = write_agent_config(tmp_path, mqtt_url, models, media)
            agent = subprocess.run(
                [sys.executable, "-m", "edge_agent.cli", "run", str(config)],
                capture_output=True,
                text=True,
                timeout=AGENT_TIMEOUT_S,
            )
            assert agent.returncode == 0, agent.stderr[-3000:]

            items = wait_until(
                lambda: httpx.get(f"{base_url}/api/events", headers=viewer).json()["items"],
                timeout=15,
                what="the event in /api/events",
            )
            wait_until(
                lambda: {"event", "incident"} <= {message["type"] for message in received},
                timeout=10,
                what="the event and its incident on the WebSocket",
            )
        finally:
            stop.set()
            listener.join(5)

        # One worker, one confirmed threat: the cool-down is longer than the clip.
        assert len(items) == 1
        stored = items[0]
        assert (stored["agent_id"], stored["camera_id"]) == ("e2e-agent", "cam-hall")
        assert stored["threat_type"] == "intrusion"
        assert stored["severity"] == "high"
        assert stored["perimeter_m"] == 75
        assert stored["location"] == {
            "lat": 48.85795,
            "lon": 2.34655,
            "source": "camera",
            "accuracy_m": 20.0,
        }
        assert len(stored["detections"]) >= 1
        assert {d["label"] for d in stored["detections"]} == {"person"}
        assert all(d["score"] >= 0.6 for d in stored["detections"])
        assert stored["model"]["name"] == "mobilenet_ssd_v2_coco_quant_postprocess"
        assert stored["model"]["sha256"].startswith("7046f31a")

        # The stream carries the stored event once, and the incident it opened.
        events = [message["data"] for message in received if message["type"] == "event"]
        assert [(event["event_id"], event["id"]) for event in events] == [
            (stored["event_id"], stored["id"])
        ]
        incidents = [message["data"] for message in received if message["type"] == "incident"]
        assert "intrusion" in {incident["threat_type"] for incident in incidents}

        if backend == "postgis":
            engine = sa.create_engine(database_url)
            with engine.connect() as connection:
                row = connection.execute(
                    sa.text(
                        "SELECT ST_X(geog::geometry), ST_Y(geog::geometry),"
                        " ST_DWithin(geog, ST_SetSRID(ST_MakePoint(2.34655, 48.85795), 4326)"
                        "::geography, 1.0),"
                        " ST_DWithin(geog, ST_SetSRID(ST_MakePoint(2.2945, 48.8584), 4326)"
                        "::geography, 1000.0),"
                        " format_type(a.atttypid, a.atttypmod)"
                        " FROM events JOIN pg_attribute a"
                        " ON a.attrelid = 'events'::regclass AND a.attname = 'geog'"
                        " WHERE event_id = :event_id"
                    ),
                    {"event_id": stored["event_id"]},
                ).one()
            engine.dispose()
            lon, lat, near_camera, near_eiffel_tower, column_type = row
            assert (round(lon, 5), round(lat, 5)) == (2.34655, 48.85795)
            assert near_camera is True
            assert near_eiffel_tower is False
            assert column_type.lower().startswith("geography(point")

        layers = open_map_and_read_layers(
            browser,
            base_url,
            add_user(database_url),
            stored["event_id"],
            artifacts_dir / f"e2e-map-{backend}.png",
        )
        assert layers["errors"] == []
        assert (round(layers["lat"], 5), round(layers["lon"], 5)) == (48.85795, 2.34655)
        assert layers["radius"] == 75
        assert layers["markerOnMap"] and layers["circleOnMap"]
