"""Property-based tests of the wire contract's parser: valid events round-trip, anything else
is refused with ContractError and never with another exception."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hub.ingest.validation import TimeBounds, validate_message
from tests.hubserver import make_event
from vigie_contract import (
    MAX_EVENT_BYTES,
    ContractError,
    Detection,
    EventV1,
    Location,
    ModelInfo,
    event_topic,
    heartbeat_topic,
    parse_event,
    snapshot_topic,
    status_topic,
)

FUZZ = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
AGENT, CAMERA = "agent-1", "cam-1"

identifiers = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", fullmatch=True)
unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
# Printable text as the contract defines it: no C0 control characters, no DEL, no surrogates.
printable = st.text(
    st.characters(min_codepoint=0x20, blacklist_characters="\x7f", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=64,
)
offsets = st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23)).map(
    lambda delta: timezone(timedelta(minutes=delta // timedelta(minutes=1)))
)
capture_times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=offsets
)


@st.composite
def boxes(draw: st.DrawFn) -> tuple[float, float, float, float]:
    """An ordered normalised box [x0, y0, x1, y1]."""
    x0, x1 = sorted((draw(unit), draw(unit)))
    y0, y1 = sorted((draw(unit), draw(unit)))
    return (x0, y0, x1, y1)


detections = st.builds(
    Detection,
    label=printable,
    score=unit,
    box=boxes(),
    track_id=st.none() | st.integers(min_value=0, max_value=2**53),
)
locations = st.builds(
    Location,
    lat=st.floats(min_value=-90.0, max_value=90.0),
    lon=st.floats(min_value=-180.0, max_value=180.0),
    source=st.sampled_from(["camera", "homography"]),
    accuracy_m=st.floats(min_value=0.0, max_value=100_000.0),
)
events = st.builds(
    EventV1,
    event_id=st.uuids(),
    agent_id=identifiers,
    camera_id=identifiers,
    captured_at=capture_times,
    threat_type=st.from_regex(r"[a-z][a-z0-9_]{0,31}", fullmatch=True),
    severity=st.sampled_from(["low", "medium", "high", "critical"]),
    detections=st.lists(detections, min_size=1, max_size=5),
    location=locations,
    perimeter_m=st.floats(min_value=0.0, max_value=10_000.0, exclude_min=True),
    model=st.builds(
        ModelInfo, name=printable, sha256=st.none() | st.from_regex(r"[0-9a-f]{64}", fullmatch=True)
    ),
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and infinities too: json writes them as bare literals
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5)
    ),
    max_leaves=20,
)
EVENT_KEYS = list(make_event().to_dict())


def parses_or_refuses(payload: bytes) -> EventV1 | ContractError:
    """The parsed event, or the ContractError refusing it; any other exception fails the test."""
    try:
        return parse_event(payload)
    except ContractError as refused:
        assert refused.reason and refused.detail
        return refused


@FUZZ
@given(events)
def test_valid_events_round_trip_through_the_wire(event: EventV1) -> None:
    assert parse_event(event.to_json()) == event


@FUZZ
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_are_refused_with_a_contract_error(payload: bytes) -> None:
    assert isinstance(parses_or_refuses(payload), ContractError)


@FUZZ
@given(json_values)
def test_arbitrary_json_is_refused_with_a_contract_error(document: object) -> None:
    assert isinstance(parses_or_refuses(json.dumps(document).encode()), ContractError)


@FUZZ
@given(st.sampled_from(EVENT_KEYS), json_values)
def test_a_valid_event_with_one_field_replaced_parses_or_is_refused(
    key: str, value: object
) -> None:
    document = make_event().to_dict() | {key: value}

    outcome = parses_or_refuses(json.dumps(document).encode())

    if isinstance(outcome, EventV1):
        assert outcome.to_dict()[key] is not None


@FUZZ
@given(
    st.sampled_from(
        [
            event_topic(AGENT, CAMERA),
            status_topic(AGENT),
            heartbeat_topic(AGENT),
            snapshot_topic(AGENT, CAMERA, str(uuid.uuid4())),
            f"vigie/v1/{AGENT}/nonsense",
        ]
    ),
    st.binary(max_size=1024) | json_values.map(lambda value: json.dumps(value).encode()),
    st.datetimes(timezones=st.just(timezone.utc)),
)
def test_any_message_on_any_topic_is_validated_or_refused(
    topic: str, payload: bytes, received_at: datetime
) -> None:
    bounds = TimeBounds(max_ahead=timedelta(days=1), max_age=timedelta(days=90))
    try:
        validate_message(topic, payload, MAX_EVENT_BYTES, received_at, bounds)
    except ContractError as refused:
        assert refused.reason and refused.detail


@FUZZ
@given(events, st.datetimes(timezones=st.just(timezone.utc)))
@example(make_event(), datetime.max.replace(tzinfo=timezone.utc))
@example(make_event(), datetime.min.replace(tzinfo=timezone.utc))
def test_capture_time_bounds_never_raise_on_extreme_arrivals(
    event: EventV1, received_at: datetime
) -> None:
    bounds = TimeBounds(max_ahead=timedelta(days=1), max_age=timedelta(days=90))
    topic = event_topic(event.agent_id, event.camera_id)
    try:
        accepted = validate_message(topic, event.to_json(), MAX_EVENT_BYTES, received_at, bounds)
    except ContractError as refused:
        assert refused.reason == "time_out_of_range"
    else:
        assert received_at - accepted.captured_at <= bounds.max_age
        assert accepted.captured_at - received_at <= bounds.max_ahead
