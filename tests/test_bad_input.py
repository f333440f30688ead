"""A corpus of bad MQTT payloads, published on real Mosquitto to a real hub on PostGIS.

Every bad message must land in dead_letters with its reason, the hub must stay healthy, and
every valid event published between them must be stored exactly once.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

import pytest

from hub.app import ingest_time_bounds
from hub.config import HubSettings, SettingsError, load_settings
from hub.events.service import list_dead_letters, list_events
from hub.ingest.validation import validate_message
from tests.hubserver import (
    healthz_ok,
    hub_settings,
    make_event,
    opened_database,
    publish,
    running_hub,
    topic_of,
    wait_until,
)
from vigie_contract import (
    MAX_EVENT_BYTES,
    ContractError,
    event_topic,
    heartbeat_topic,
    snapshot_topic,
    status_topic,
)
from vigie_contract.event import utc_now

pytestmark = pytest.mark.mqtt
AGENT, CAMERA = "agent-1", "cam-1"
TOPIC = event_topic(AGENT, CAMERA)
STORE_TIMEOUT_S = 30.0


class BadPayload(NamedTuple):
    """One bad message and the reason the hub must give for refusing it."""

    name: str
    topic: str
    payload: bytes
    reason: str


def valid_wire(now: datetime, **changes: object) -> dict:
    """The wire JSON of a fresh valid event captured at `now`, with top-level fields replaced."""
    return {**make_event(AGENT, CAMERA, captured_at=now).to_dict(), **changes}


def without(document: dict, key: str) -> dict:
    """`document` without `key`."""
    return {name: value for name, value in document.items() if name != key}


def encoded(document: object) -> bytes:
    """JSON bytes; NaN and Infinity are written as the bare literals Python's json emits."""
    return json.dumps(document).encode()


def nested(document: dict, key: str, **changes: object) -> dict:
    """`document` with fields of its sub-object `key` replaced."""
    return {**document, key: {**document[key], **changes}}


def bad_payloads(now: datetime) -> list[BadPayload]:
    """The corpus: one entry per class of bad input, each with its expected reason."""
    good = valid_wire(now)
    text = encoded(good)
    detection = good["detections"][0]
    return [
        # Not JSON at all.
        BadPayload("truncated JSON", TOPIC, text[: len(text) // 2], "malformed_json"),
        BadPayload("single quotes", TOPIC, b"{'schema': 'vigie.event/1'}", "malformed_json"),
        BadPayload("empty payload", TOPIC, b"", "malformed_json"),
        BadPayload("binary garbage", TOPIC, bytes(range(256)) * 4, "malformed_json"),
        BadPayload("invalid UTF-8", TOPIC, b"\xff\xfe\xfd not text", "malformed_json"),
        BadPayload("nesting 30 000 deep", TOPIC, b"[" * 30_000 + b"]" * 30_000, "malformed_json"),
        BadPayload("trailing garbage", TOPIC, text + b"}}", "malformed_json"),
        # JSON, but not an object.
        BadPayload("JSON array", TOPIC, b"[1, 2, 3]", "schema"),
        BadPayload("JSON null", TOPIC, b"null", "schema"),
        BadPayload("JSON string", TOPIC, b'"vigie.event/1"', "schema"),
        # Schema identity.
        BadPayload("unknown schema version", TOPIC, encoded(good | {"schema": "vigie.event/2"}),
                   "unknown_schema"),
        BadPayload("missing schema", TOPIC, encoded(without(good, "schema")), "unknown_schema"),
        BadPayload("schema as a number", TOPIC, encoded(good | {"schema": 1}), "unknown_schema"),
        # Wrong types.
        BadPayload("severity as a number", TOPIC, encoded(good | {"severity": 5}), "schema"),
        BadPayload("detections as a string", TOPIC, encoded(good | {"detections": "knife"}),
                   "schema"),
        BadPayload("event_id as a number", TOPIC, encoded(good | {"event_id": 12345}), "schema"),
        BadPayload("location as a list", TOPIC, encoded(good | {"location": [48.8, 2.3]}),
                   "schema"),
        BadPayload("captured_at as a bool", TOPIC, encoded(good | {"captured_at": True}),
                   "schema"),
        # Missing fields.
        BadPayload("missing event_id", TOPIC, encoded(without(good, "event_id")), "schema"),
        BadPayload("missing location", TOPIC, encoded(without(good, "location")), "schema"),
        BadPayload("no detections", TOPIC, encoded(good | {"detections": []}), "schema"),
        BadPayload("unknown extra field", TOPIC, encoded(good | {"admin": True}), "schema"),
        # Huge strings and arrays (under the size limit, so the schema refuses them).
        BadPayload("60 KB model name", TOPIC,
                   encoded(nested(good, "model", name="x" * 60_000)), "schema"),
        BadPayload("NUL in a label", TOPIC,
                   encoded(good | {"detections": [detection | {"label": "kn\x00ife"}]}), "schema"),
        BadPayload("101 detections", TOPIC, encoded(good | {"detections": [detection] * 101}),
                   "schema"),
        BadPayload("2000 detections", TOPIC, encoded(good | {"detections": [detection] * 2000}),
                   "oversize"),
        BadPayload("payload over the limit", TOPIC, text + b" " * MAX_EVENT_BYTES, "oversize"),
        # NaN and infinities (Python's json writes and reads the bare literals).
        BadPayload("NaN latitude", TOPIC, encoded(nested(good, "location", lat=float("nan"))),
                   "schema"),
        BadPayload("Infinity score", TOPIC,
                   encoded(good | {"detections": [detection | {"score": float("inf")}]}), "schema"),
        BadPayload("-Infinity perimeter", TOPIC, encoded(good | {"perimeter_m": float("-inf")}),
                   "schema"),
        # Impossible values.
        BadPayload("latitude 91", TOPIC, encoded(nested(good, "location", lat=91.0)), "schema"),
        BadPayload("longitude -180.5", TOPIC, encoded(nested(good, "location", lon=-180.5)),
                   "schema"),
        BadPayload("box upside down", TOPIC,
                   encoded(good | {"detections": [detection | {"box": [0.5, 0.5, 0.1, 0.1]}]}),
                   "schema"),
        BadPayload("score 1.5", TOPIC,
                   encoded(good | {"detections": [detection | {"score": 1.5}]}), "schema"),
        BadPayload("negative perimeter", TOPIC, encoded(good | {"perimeter_m": -5}), "schema"),
        # Times.
        BadPayload("captured 2 days ahead", TOPIC,
                   encoded(good | {"captured_at": (now + timedelta(days=2)).isoformat()}),
                   "time_out_of_range"),
        BadPayload("captured 1 year ago", TOPIC,
                   encoded(good | {"captured_at": (now - timedelta(days=365)).isoformat()}),
                   "time_out_of_range"),
        BadPayload("captured in 1970", TOPIC,
                   encoded(good | {"captured_at": "1970-01-01T00:00:00+00:00"}),
                   "time_out_of_range"),
        BadPayload("year 10000 once in UTC", TOPIC,
                   encoded(good | {"captured_at": "9999-12-31T23:59:59-14:00"}), "schema"),
        BadPayload("no time zone", TOPIC, encoded(good | {"captured_at": "2026-11-26T08:00:00"}),
                   "schema"),
        BadPayload("month 13", TOPIC, encoded(good | {"captured_at": "2026-13-01T00:00:00Z"}),
                   "schema"),
        # Identity: the topic (vouched for by the broker's ACL) and the payload disagree.
        BadPayload("another agent's event", TOPIC,
                   make_event("agent-2", CAMERA, captured_at=now).to_json(), "identity_mismatch"),
        BadPayload("another camera's event", TOPIC,
                   make_event(AGENT, "cam-9", captured_at=now).to_json(), "identity_mismatch"),
        # Other message kinds.
        BadPayload("garbage heartbeat", heartbeat_topic(AGENT), b"\x00\x01\x02", "malformed_json"),
        BadPayload("event on the status topic", status_topic(AGENT), text, "unknown_schema"),
        BadPayload("snapshot that is not a JPEG",
                   snapshot_topic(AGENT, CAMERA, str(uuid.uuid4())), b"GIF89a...", "not_jpeg"),
        BadPayload("snapshot of a non-UUID", snapshot_topic(AGENT, CAMERA, "not-a-uuid"),
                   b"\xff\xd8\xff\xe0", "bad_topic"),
    ]  # fmt: skip


def test_every_bad_payload_is_dead_lettered_and_valid_events_between_them_stored(
    postgis_url: str, mqtt_url: str
) -> None:
    now = utc_now()
    corpus = bad_payloads(now)
    valid = [make_event(AGENT, CAMERA, captured_at=now) for _ in range(len(corpus) + 1)]
    # A valid event before, between and after every bad one; the first is sent twice.
    messages = [(topic_of(valid[0]), valid[0].to_json())]
    for bad, good in zip(corpus, valid[1:], strict=True):
        messages += [(bad.topic, bad.payload), (topic_of(good), good.to_json())]
    messages.append((topic_of(valid[0]), valid[0].to_json()))

    with (
        running_hub(hub_settings(postgis_url, mqtt_url)) as base_url,
        opened_database(postgis_url) as database,
    ):
        publish(mqtt_url, messages)

        def settled() -> bool:
            with database.sessions() as session:
                letters = list_dead_letters(session, limit=len(corpus) + 10)
                events = list_events(session, limit=len(valid) + 10, after_id=0)
            return len(letters) >= len(corpus) and len(events) >= len(valid)

        wait_until(settled, STORE_TIMEOUT_S, "every message to be stored or dead-lettered")
        assert healthz_ok(base_url), "the hub is not healthy after the bad input"
        with database.sessions() as session:
            letters = list_dead_letters(session, limit=len(corpus) + 10)[::-1]
            stored = [e.event_id for e in list_events(session, limit=1000, after_id=0)]

    got = [(letter.topic, letter.reason) for letter in letters]
    assert got == [(bad.topic, bad.reason) for bad in corpus], _mismatches(corpus, got)
    assert [letter.payload_size for letter in letters] == [len(bad.payload) for bad in corpus]
    assert all(letter.detail for letter in letters)
    assert Counter(stored) == Counter(event.event_id for event in valid), "lost or doubled"


def _mismatches(corpus: list[BadPayload], got: list[tuple[str, str]]) -> str:
    wrong = [
        f"{bad.name}: want {bad.reason}, got {reason}"
        for bad, (_, reason) in zip(corpus, got, strict=False)
        if reason != bad.reason
    ]
    return "; ".join(wrong) or f"{len(got)} dead letters for {len(corpus)} bad payloads"


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (timedelta(hours=23), True),
        (timedelta(hours=25), False),
        (-timedelta(days=89), True),
        (-timedelta(days=91), False),
    ],
)
def test_capture_time_bounds_follow_the_settings(offset: timedelta, accepted: bool) -> None:
    settings = HubSettings(ingest_max_ahead_s=24 * 3600, retention_events_days=90)
    received_at = utc_now()
    event = make_event(AGENT, CAMERA, captured_at=received_at + offset)
    bounds = ingest_time_bounds(settings)

    if accepted:
        assert validate_message(TOPIC, event.to_json(), MAX_EVENT_BYTES, received_at, bounds)
        return
    with pytest.raises(ContractError) as refused:
        validate_message(TOPIC, event.to_json(), MAX_EVENT_BYTES, received_at, bounds)
    assert refused.value.reason == "time_out_of_range"
    assert event.captured_at.isoformat() in refused.value.detail


def test_without_time_bounds_any_capture_time_is_accepted() -> None:
    event = make_event(AGENT, CAMERA, captured_at=datetime(2001, 1, 1, tzinfo=timezone.utc))

    assert validate_message(TOPIC, event.to_json(), MAX_EVENT_BYTES, utc_now(), None) == event


def test_ingest_max_ahead_must_be_positive() -> None:
    with pytest.raises(SettingsError, match="ingest_max_ahead_s"):
        load_settings(ingest_max_ahead_s=0)
