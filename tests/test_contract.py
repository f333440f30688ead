"""The wire contract: one source (the pydantic model), one schema file, one documented example."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import jsonschema
import pytest

from vigie_contract import (
    MAX_EVENT_BYTES,
    ContractError,
    EventV1,
    event_topic,
    parse_event,
    parse_event_topic,
)
from vigie_contract.schemas import SCHEMA_DIR, SCHEMA_FILES, render

SCHEMA_FILE = SCHEMA_DIR / "event-v1.schema.json"

DOCS = Path(__file__).resolve().parents[1] / "docs" / "protocol.md"


def documented_example() -> dict:
    """The json block of docs/protocol.md."""
    blocks = re.findall(r"```json\n(.*?)```", DOCS.read_text(), flags=re.S)
    assert len(blocks) == 1, "docs/protocol.md must hold exactly one json example"
    return json.loads(blocks[0])


@pytest.mark.parametrize("name", sorted(SCHEMA_FILES))
def test_schema_files_are_generated_from_the_models(name: str):
    assert (SCHEMA_DIR / name).read_text() == render(SCHEMA_FILES[name]), "python -m vigie_contract"


def test_documented_example_validates_on_both_sides():
    example = documented_example()
    jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text())).validate(example)
    event = parse_event(json.dumps(example).encode())
    assert event.agent_id == "agent-rivoli"
    assert event.detections[0].label == "person"
    assert event.captured_at.utcoffset().total_seconds() == 0


def test_round_trip_keeps_every_field():
    event = parse_event(json.dumps(documented_example()).encode())
    again = parse_event(event.to_json())
    assert again == event
    assert json.loads(event.to_json())["schema"] == "vigie.event/1"


def test_captured_at_with_offset_is_stored_as_utc():
    example = documented_example() | {"captured_at": "2026-11-26T09:15:30+01:00"}
    event = parse_event(json.dumps(example).encode())
    assert event.captured_at.isoformat() == "2026-11-26T08:15:30+00:00"


def _mutated(**changes) -> bytes:
    document = documented_example()
    for dotted, value in changes.items():
        target = document
        *path, last = dotted.split("__")
        for key in path:
            target = target[int(key)] if isinstance(target, list) else target[key]
        target[last] = value
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "malformed_json"),
        (b"\xff\xfe\x00garbage", "malformed_json"),
        (b"[1, 2]", "schema"),
        (_mutated(schema="vigie.event/9"), "unknown_schema"),
        (_mutated(location__lat=91.0), "schema"),
        (_mutated(location__lon=-180.5), "schema"),
        (_mutated(severity="apocalyptic"), "schema"),
        (_mutated(agent_id="a/b"), "schema"),
        (_mutated(camera_id="#"), "schema"),
        (_mutated(event_id="not-a-uuid"), "schema"),
        (_mutated(captured_at="2026-11-26T08:15:30"), "schema"),  # no offset: ambiguous
        (_mutated(detections=[]), "schema"),
        (_mutated(detections__0__score=1.5), "schema"),
        (_mutated(detections__0__box=[0.5, 0.5, 0.2, 0.9]), "schema"),
        (_mutated(perimeter_m=0), "schema"),
        (_mutated(unexpected="field"), "schema"),
        (_mutated(detections__0__label="per\u0000son"), "schema"),
        (_mutated(model__name="ssd\nINFO forged log line"), "schema"),
        (b'{"schema": "vigie.event/1", "perimeter_m": NaN}', "schema"),
        (b"x" * (MAX_EVENT_BYTES + 1), "oversize"),
    ],
)
def test_bad_payloads_are_rejected_with_a_reason(payload: bytes, reason: str):
    with pytest.raises(ContractError) as caught:
        parse_event(payload)
    assert caught.value.reason == reason


def test_nan_location_is_rejected():
    payload = json.dumps(documented_example()).replace("48.85837", "NaN").encode()
    with pytest.raises(ContractError) as caught:
        parse_event(payload)
    assert caught.value.reason == "schema"
    assert "location.lat" in caught.value.detail


def test_topics_round_trip():
    assert parse_event_topic(event_topic("agent-1", "cam.2")) == ("agent-1", "cam.2")
    for topic in [
        "vigie/v1/a/event",
        "vigie/v2/a/c/event",
        "vigie/v1/a/c/status",
        "vigie/v1//c/event",
    ]:
        assert parse_event_topic(topic) is None


def test_model_builds_valid_wire_json():
    event = EventV1.model_validate(documented_example() | {"event_id": str(uuid.uuid4())})
    jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text())).validate(event.to_dict())
