"""Frigate input adapter: real Frigate-shaped `frigate/events` messages, alone and through a hub."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
import yaml

from hub.config import SettingsError, load_settings
from hub.db.engine import Database
from hub.events.schemas import DeadLetterRecord
from hub.events.service import list_dead_letters, list_events
from hub.ingest.frigate import (
    FrigateCamera,
    FrigateSettings,
    FrigateThreat,
    frigate_event,
    frigate_event_id,
)
from hub.ingest.pipeline import IngestOptions, ReceivedMessage, ingest_batch
from hub.ingest.validation import TimeBounds
from tests.hubserver import (
    api_token,
    bearer,
    hub_settings,
    opened_database,
    publish,
    running_hub,
    wait_until,
)
from tests.services import mosquitto_broker
from vigie_contract import MAX_EVENT_BYTES, ContractError

INGEST_TIMEOUT_S = 20.0
FRIGATE = FrigateSettings(
    enabled=True,
    cameras={
        "front_door": FrigateCamera(
            agent_id="frigate-nvr-1",
            camera_id="front-door",
            lat=48.8584,
            lon=2.2945,
            accuracy_m=20.0,
            frame_width=1280,
            frame_height=720,
        )
    },
    labels={"knife": FrigateThreat(threat_type="weapon", severity="high", perimeter_m=150.0)},
)


@pytest.fixture
def own_mqtt_url() -> Iterator[str]:
    """A broker of this test's own: exact counts need no other test's messages on it."""
    with mosquitto_broker() as broker:
        yield broker.url


def frigate_message(
    kind: str = "new", camera: str = "front_door", label: str = "knife", **after: object
) -> dict:
    """A `frigate/events` message as Frigate documents it (docs.frigate.video, MQTT)."""
    tracked = {
        "id": "1607123955.475377-mxklsc",
        "camera": camera,
        "frame_time": 1607123961.837752,
        "snapshot": {
            "frame_time": 1607123965.975463,
            "box": [415, 489, 528, 700],
            "area": 12728,
            "region": [260, 446, 660, 846],
            "score": 0.77546,
            "attributes": [],
        },
        "label": label,
        "sub_label": None,
        "top_score": 0.958984375,
        "false_positive": False,
        "start_time": 1607123955.475377,
        "end_time": None,
        "score": 0.7890625,
        "box": [424, 500, 536, 712],
        "area": 23744,
        "ratio": 2.113207,
        "region": [264, 450, 667, 853],
        "current_zones": ["driveway"],
        "entered_zones": ["yard", "driveway"],
        "thumbnail": None,
        "has_snapshot": True,
        "has_clip": True,
        "stationary": False,
        "motionless_count": 0,
        "position_changes": 2,
        "attributes": {},
    }
    tracked |= after
    return {"type": kind, "before": {**tracked, "top_score": 0.5}, "after": tracked}


def encoded(message: dict) -> bytes:
    """The message as Frigate publishes it."""
    return json.dumps(message).encode()


def test_a_frigate_object_becomes_a_vigie_event() -> None:
    event = frigate_event(encoded(frigate_message()), FRIGATE, MAX_EVENT_BYTES)
    assert event.event_id == frigate_event_id("front_door", "1607123955.475377-mxklsc")
    assert (event.agent_id, event.camera_id) == ("frigate-nvr-1", "front-door")
    assert (event.threat_type, event.severity, event.perimeter_m) == ("weapon", "high", 150.0)
    assert event.captured_at.timestamp() == pytest.approx(1607123955.475377)
    assert (event.location.lat, event.location.lon, event.location.source) == (
        48.8584,
        2.2945,
        "camera",
    )
    (detection,) = event.detections
    assert detection.label == "knife"
    assert detection.score == 0.958984375
    assert detection.box == pytest.approx((424 / 1280, 500 / 720, 536 / 1280, 712 / 720))


def test_every_message_of_one_frigate_object_has_the_same_event_id() -> None:
    ids = {
        frigate_event(
            encoded(frigate_message(kind, top_score=score)), FRIGATE, MAX_EVENT_BYTES
        ).event_id
        for kind, score in (("new", 0.8), ("update", 0.9), ("end", 0.95))
    }
    assert len(ids) == 1
    other = frigate_message(id="1607124000.1-abcdef")
    assert frigate_event(encoded(other), FRIGATE, MAX_EVENT_BYTES).event_id not in ids


def test_score_falls_back_to_score_and_boxes_are_clamped_to_the_frame() -> None:
    message = frigate_message(top_score=None, box=[-2, 0, 1281, 721])
    event = frigate_event(encoded(message), FRIGATE, MAX_EVENT_BYTES)
    assert event.detections[0].score == 0.7890625
    assert event.detections[0].box == (0.0, 0.0, 1.0, 1.0)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "malformed_json"),
        (b"[1, 2]", "frigate_schema"),
        (encoded({"type": "new", "before": {}}), "frigate_schema"),
        (encoded(frigate_message("deleted")), "frigate_schema"),
        (encoded(frigate_message(box=[1, 2, 3])), "frigate_schema"),
        (encoded(frigate_message(top_score=1.7)), "frigate_schema"),
        (encoded(frigate_message(top_score=None, score=None)), "frigate_schema"),
        (encoded(frigate_message(box=[600, 500, 400, 712])), "frigate_schema"),
        (encoded(frigate_message(camera="back_yard")), "frigate_unknown_camera"),
        (encoded(frigate_message(label="car")), "frigate_unmapped_label"),
        (encoded(frigate_message(false_positive=True)), "frigate_false_positive"),
        (b" " * (MAX_EVENT_BYTES + 1), "oversize"),
    ],
)
def test_bad_frigate_messages_are_refused_with_a_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(ContractError) as refused:
        frigate_event(payload, FRIGATE, MAX_EVENT_BYTES)
    assert refused.value.reason == reason


def test_frigate_events_captured_too_far_from_their_arrival_are_refused_beside_good_ones(
    tmp_path: Path,
) -> None:
    now = datetime.now(timezone.utc)
    bounds = TimeBounds(max_ahead=timedelta(days=1), max_age=timedelta(days=90))
    starts = {
        "ahead": now + timedelta(days=2),
        "good": now - timedelta(minutes=1),
        "stale": now - timedelta(days=200),
    }
    payloads = [
        encoded(frigate_message(id=f"{start.timestamp():.6f}-{name}", start_time=start.timestamp()))
        for name, start in starts.items()
    ]
    messages = [ReceivedMessage(FRIGATE.topic, payload, now) for payload in payloads]
    options = IngestOptions(MAX_EVENT_BYTES, time_bounds=bounds, frigate=FRIGATE)
    with opened_database(f"sqlite:///{tmp_path / 'hub.sqlite3'}") as database:
        results = ingest_batch(database.sessions, messages, options)
        with database.sessions() as session:
            stored = list_events(session, 10)
            dead = list_dead_letters(session)
    assert [(r.outcome, r.reason) for r in results] == [
        ("rejected", "time_out_of_range"),
        ("stored", None),
        ("rejected", "time_out_of_range"),
    ]
    assert [event.captured_at for event in stored] == [starts["good"]]
    assert sorted(letter.reason for letter in dead) == ["time_out_of_range"] * 2


@pytest.mark.mqtt
def test_frigate_events_reach_the_map_and_open_one_incident(
    postgis_url: str, own_mqtt_url: str
) -> None:
    token = api_token(postgis_url, "viewer")
    frigate_id = f"{time.time():.6f}-{uuid.uuid4().hex[:6]}"
    now = time.time()
    lifecycle = [
        frigate_message(kind, id=frigate_id, start_time=now, top_score=score)
        for kind, score in (("new", 0.81), ("update", 0.9), ("end", 0.93))
    ]
    bad = [
        frigate_message(id="1.0-unknown", camera="back_yard", start_time=now),
        {"type": "new"},
    ]
    settings = hub_settings(postgis_url, own_mqtt_url, map_tile_url="", frigate=FRIGATE)
    with running_hub(settings) as base_url:
        publish(own_mqtt_url, [(FRIGATE.topic, encoded(message)) for message in [*lifecycle, *bad]])
        with opened_database(postgis_url) as database:
            dead = wait_until(
                lambda: _dead_letters_once_all_counted(database, base_url, token),
                INGEST_TIMEOUT_S,
                "the hub to ingest the 5 Frigate messages",
            )
            with database.sessions() as session:
                stored = list_events(session, 100, 0)
        incidents = httpx.get(f"{base_url}/api/incidents", headers=bearer(token), timeout=10)
        on_map = httpx.get(f"{base_url}/map/events.json", headers=bearer(token), timeout=10)
    assert [event.event_id for event in stored] == [frigate_event_id("front_door", frigate_id)]
    assert (stored[0].agent_id, stored[0].camera_id) == ("frigate-nvr-1", "front-door")
    # The first message stored wins; later updates are duplicates of it.
    assert stored[0].detections[0].score == 0.81
    assert sorted(letter.reason for letter in dead) == ["frigate_schema", "frigate_unknown_camera"]
    assert all(letter.topic == "frigate/events" for letter in dead)
    (incident,) = incidents.json()["items"]
    assert (incident["threat_type"], incident["camera_id"]) == ("weapon", "front-door")
    assert str(stored[0].event_id) in on_map.text


def _dead_letters_once_all_counted(
    database: Database, base_url: str, token: str
) -> list[DeadLetterRecord] | None:
    # Every message is counted once committed; then the dead letters are complete.
    response = httpx.get(f"{base_url}/metrics", headers=bearer(token), timeout=10)
    counted = sum(
        float(line.rsplit(" ", 1)[1])
        for line in response.text.splitlines()
        if line.startswith('vigie_ingest_messages_total{kind="frigate"')
    )
    if counted < 5:
        return None
    with database.sessions() as session:
        return list_dead_letters(session)


def test_the_frigate_mapping_comes_from_the_hub_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text(yaml.safe_dump({"frigate": FRIGATE.model_dump()}))
    monkeypatch.setenv("VIGIE_CONFIG", str(config))
    assert load_settings().frigate == FRIGATE


def test_a_frigate_camera_without_its_frame_size_is_a_settings_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    camera = {"agent_id": "nvr", "camera_id": "door", "lat": 48.0, "lon": 2.0}
    config = tmp_path / "hub.yaml"
    config.write_text(yaml.safe_dump({"frigate": {"enabled": True, "cameras": {"door": camera}}}))
    monkeypatch.setenv("VIGIE_CONFIG", str(config))
    with pytest.raises(SettingsError, match=r"frigate\.cameras\.door\.frame_width"):
        load_settings()
