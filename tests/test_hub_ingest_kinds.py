"""Ingest of every v1 kind on real Mosquitto and both databases: snapshots, health, batches,
identity checks on each kind, dead letters with reasons, shared subscriptions."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub.agents.models import Agent
from hub.cameras.models import Camera
from hub.db.engine import Database
from hub.events.service import list_dead_letters
from hub.ingest.pipeline import IngestOptions, ReceivedMessage, ingest_batch
from hub.snapshots.models import Snapshot
from hub.snapshots.service import load_snapshot
from tests.hubserver import make_event, opened_database, publish, topic_of, wait_until
from tests.test_hub_ingest import running_consumer, stored_event_ids, unique_client_id
from vigie_contract import (
    MAX_EVENT_BYTES,
    MAX_SNAPSHOT_BYTES,
    AgentStatusV1,
    CameraHealth,
    CameraStatusV1,
    HeartbeatV1,
    SnapshotRef,
    camera_status_topic,
    heartbeat_topic,
    snapshot_topic,
    status_topic,
)

pytestmark = pytest.mark.mqtt
STORE_TIMEOUT_S = 15.0
NOW = datetime(2026, 11, 26, 9, 0, 0, tzinfo=timezone.utc)


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """A fresh hub database on each backend."""
    with opened_database(database_url) as database:
        yield database


@pytest.fixture(scope="module")
def jpeg(media: Path) -> bytes:
    """A real JPEG from the shared media."""
    return (media / "backpackman.jpg").read_bytes()


def heartbeat(agent_id: str, camera_id: str = "cam-1") -> HeartbeatV1:
    """A valid heartbeat reporting one online camera."""
    camera = CameraHealth(camera_id=camera_id, state="online", fps=2.0)
    return HeartbeatV1(
        agent_id=agent_id,
        sent_at=NOW,
        version="0.1.0",
        uptime_s=12.5,
        queue_depth=0,
        cameras=[camera],
    )


def dead_letters(database: Database) -> list[tuple[str, str]]:
    """(topic, reason) of every dead letter, oldest first."""
    with database.sessions() as session:
        return [(letter.topic, letter.reason) for letter in list_dead_letters(session)[::-1]]


def test_every_kind_is_stored_and_every_bad_one_dead_lettered_with_its_reason(
    mqtt_url: str, database: Database, jpeg: bytes
) -> None:
    event = make_event(agent_id="agent-1", camera_id="cam-1")
    event_id = str(event.event_id)
    other_agents_event = make_event(agent_id="agent-2", camera_id="cam-2")
    camera_status = CameraStatusV1(
        agent_id="agent-1", camera_id="cam-1", state="offline", since=NOW, reason="lens covered"
    )
    # Indices 0 and 5, the events, go first: bad snapshots refer to them.
    good = [
        (topic_of(event), event.to_json()),
        (snapshot_topic("agent-1", "cam-1", event_id), jpeg),
        (status_topic("agent-1"), AgentStatusV1(agent_id="agent-1", state="online").to_json()),
        (heartbeat_topic("agent-1"), heartbeat("agent-1").to_json()),
        (camera_status_topic("agent-1", "cam-1"), camera_status.to_json()),
        (topic_of(other_agents_event), other_agents_event.to_json()),
    ]
    bad = [
        # Snapshots: size, content, topic, and another agent's event.
        (
            snapshot_topic("agent-1", "cam-1", event_id),
            b"\xff\xd8\xff" * MAX_SNAPSHOT_BYTES,
            "oversize",
        ),
        (snapshot_topic("agent-1", "cam-1", event_id), b"GIF89a not a jpeg", "not_jpeg"),
        (snapshot_topic("agent-1", "cam-1", event_id), b"", "not_jpeg"),
        (snapshot_topic("agent-1", "cam-1", "not-a-uuid"), jpeg, "bad_topic"),
        (
            snapshot_topic("agent-1", "cam-1", str(other_agents_event.event_id)),
            jpeg,
            "identity_mismatch",
        ),
        # Health messages: each class of bad input, and each identity check.
        (status_topic("agent-1"), b"online", "malformed_json"),
        (status_topic("agent-1"), b'{"schema": "vigie.status/9"}', "unknown_schema"),
        (
            status_topic("agent-1"),
            b'{"schema": "vigie.status/1", "agent_id": "agent-1", "state": "dozing"}',
            "schema",
        ),
        (
            status_topic("agent-1"),
            AgentStatusV1(agent_id="agent-2", state="offline").to_json(),
            "identity_mismatch",
        ),
        (heartbeat_topic("agent-1"), heartbeat("agent-1").to_json() + b" " * 70_000, "oversize"),
        (heartbeat_topic("agent-1"), heartbeat("agent-2").to_json(), "identity_mismatch"),
        (
            camera_status_topic("agent-1", "cam-1"),
            camera_status.model_copy(update={"camera_id": "cam-7"}).to_json(),
            "identity_mismatch",
        ),
        (
            camera_status_topic("agent-1", "cam-1"),
            camera_status.model_copy(update={"agent_id": "agent-2"}).to_json(),
            "identity_mismatch",
        ),
        # Events: a camera id that is not the topic's, and a snapshot reference to another agent.
        (
            topic_of(event),
            make_event(agent_id="agent-1", camera_id="cam-9").to_json(),
            "identity_mismatch",
        ),
        (
            topic_of(event),
            make_event(
                snapshot=SnapshotRef(topic=snapshot_topic("agent-2", "cam-2", event_id), bytes=9)
            ).to_json(),
            "identity_mismatch",
        ),
    ]
    # Good and bad interleaved, so the good ones share batches with bad neighbours.
    messages = [good[0], good[5], good[1]] + [(t, p) for t, p, _ in bad] + good[2:5]
    with running_consumer(mqtt_url, database, unique_client_id()) as (_, stored):
        publish(mqtt_url, messages)
        wait_until(lambda: len(dead_letters(database)) == len(bad), STORE_TIMEOUT_S, "the letters")
        wait_until(lambda: len(stored) == 2, STORE_TIMEOUT_S, "both events")

    assert dead_letters(database) == [(topic, reason) for topic, _, reason in bad]
    assert stored_event_ids(database) == [event.event_id, other_agents_event.event_id]
    with database.sessions() as session:
        assert load_snapshot(session, event.event_id) == jpeg
        agent = session.get(Agent, "agent-1")
        camera = session.get(Camera, "cam-1")
    assert agent.state == "online"
    assert agent.last_heartbeat_at is not None
    assert camera.state == "offline"


def test_a_batch_stores_each_event_once_and_its_bad_messages_apart(database: Database) -> None:
    # The pipeline straight: one call is one transaction, whatever the consumer's timing.
    first, second = make_event(), make_event()
    received = [
        (topic_of(first), first.to_json()),
        (topic_of(first), first.to_json()),
        (topic_of(first), b"{"),
        (topic_of(second), second.to_json()),
        (topic_of(first), first.to_json()),
    ]
    options = IngestOptions(max_event_bytes=MAX_EVENT_BYTES)
    messages = [ReceivedMessage(topic, payload, NOW) for topic, payload in received]

    results = ingest_batch(database.sessions, messages, options)
    again = ingest_batch(database.sessions, messages[:1], options)

    assert [r.outcome for r in results] == [
        "stored",
        "duplicate",
        "rejected",
        "stored",
        "duplicate",
    ]
    assert results[0].event.id < results[3].event.id
    assert [r.outcome for r in again] == ["duplicate"]
    assert stored_event_ids(database) == [first.event_id, second.event_id]
    assert dead_letters(database) == [(topic_of(first), "malformed_json")]


def test_snapshot_before_its_event_is_served_only_for_the_right_identity(
    database: Database, jpeg: bytes
) -> None:
    event = make_event(agent_id="agent-1", camera_id="cam-1")
    options = IngestOptions(max_event_bytes=MAX_EVENT_BYTES)
    # An impostor's snapshot arrives first; the real one next; the event last.
    messages = [
        ReceivedMessage(snapshot_topic("agent-2", "cam-2", str(event.event_id)), jpeg[:-1], NOW),
        ReceivedMessage(snapshot_topic("agent-1", "cam-1", str(event.event_id)), jpeg, NOW),
    ]
    for message in messages:
        ingest_batch(database.sessions, [message], options)
    with database.sessions() as session:
        before_event = load_snapshot(session, event.event_id)
    ingest_batch(
        database.sessions, [ReceivedMessage(topic_of(event), event.to_json(), NOW)], options
    )

    with database.sessions() as session:
        assert load_snapshot(session, event.event_id) == jpeg
        assert load_snapshot(session, uuid.uuid4()) is None
        assert session.scalar(sa.select(sa.func.count()).select_from(Snapshot)) == 2
    assert before_event is None


def test_shared_subscription_keeps_what_is_published_while_the_hub_is_down(
    mqtt_url: str, database: Database
) -> None:
    shared_group = "vigie-hub-" + uuid.uuid4().hex[:6]
    client_id = unique_client_id()
    with running_consumer(mqtt_url, database, client_id, shared_group=shared_group):
        pass  # subscribes, then leaves a persistent session behind
    missed = [make_event() for _ in range(3)]
    publish(mqtt_url, [(topic_of(event), event.to_json()) for event in missed])

    with running_consumer(mqtt_url, database, client_id, shared_group=shared_group) as (_, stored):
        wait_until(lambda: len(stored) == 3, STORE_TIMEOUT_S, "the three missed events")

    assert stored_event_ids(database) == [event.event_id for event in missed]
