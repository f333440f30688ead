"""MQTT ingest against real Mosquitto and both databases: store, reject, survive outages."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from hub.db.engine import Database
from hub.events.schemas import StoredEvent
from hub.events.service import list_dead_letters, list_events
from hub.ingest.consumer import BrokerSession, EventConsumer
from hub.ingest.pipeline import IngestOptions
from tests.hubserver import (
    allow_connections,
    block_connections,
    make_event,
    opened_database,
    publish,
    publish_events,
    topic_of,
    wait_until,
)
from tests.services import mosquitto_broker
from vigie_contract import MAX_EVENT_BYTES, event_topic

pytestmark = pytest.mark.mqtt
SUBSCRIBE_TIMEOUT_S = 15.0
STORE_TIMEOUT_S = 15.0


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """A fresh hub database on each backend."""
    with opened_database(database_url) as database:
        yield database


def unique_client_id() -> str:
    """A client id no earlier test used, so no leftover persistent session is inherited."""
    return f"hub-test-{uuid.uuid4().hex[:10]}"


@contextmanager
def running_consumer(
    mqtt_url: str, database: Database, client_id: str, shared_group: str | None = None
) -> Iterator[tuple[EventConsumer, list[StoredEvent]]]:
    """A consumer subscribed to the broker, and the list of events it reports as stored."""
    parts = urlsplit(mqtt_url)
    stored: list[StoredEvent] = []
    consumer = EventConsumer(
        broker=BrokerSession(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 1883,
            client_id=client_id,
            shared_group=shared_group,
        ),
        sessions=database.sessions,
        options=IngestOptions(max_event_bytes=MAX_EVENT_BYTES),
        on_stored=stored.extend,
    )
    consumer.start()
    try:
        assert consumer.wait_subscribed(SUBSCRIBE_TIMEOUT_S), "the consumer never subscribed"
        yield consumer, stored
    finally:
        consumer.stop()


def stored_event_ids(database: Database) -> list[uuid.UUID]:
    """event_id of every stored event, oldest first."""
    with database.sessions() as session:
        return [event.event_id for event in list_events(session, limit=1000, after_id=0)]


def test_bad_messages_are_dead_lettered_and_good_ones_around_them_stored(
    mqtt_url: str, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    first, last = make_event(), make_event()
    topic = topic_of(first)
    unknown_schema = {**make_event().to_dict(), "schema": "vigie.event/2"}
    bad_severity = {**make_event().to_dict(), "severity": "apocalyptic"}
    padded = make_event().to_json() + b" " * MAX_EVENT_BYTES
    impostor = make_event(agent_id="agent-2", camera_id="cam-9")
    rejected = [
        (topic, b'{"schema": "vigie.event/1", ', "malformed_json"),
        (topic, b"\xff\xfe not utf-8", "malformed_json"),
        (topic, json.dumps(unknown_schema).encode(), "unknown_schema"),
        (topic, padded, "oversize"),
        (topic, json.dumps(bad_severity).encode(), "schema"),
        (topic, b"[1, 2, 3]", "schema"),
        (event_topic("agent-1", "cam-1"), impostor.to_json(), "identity_mismatch"),
    ]

    with running_consumer(mqtt_url, database, unique_client_id()) as (_, stored):
        publish(
            mqtt_url,
            [(topic, first.to_json())]
            + [(where, payload) for where, payload, _ in rejected]
            + [(topic, last.to_json())],
        )
        wait_until(lambda: len(stored) == 2, STORE_TIMEOUT_S, "both valid events")

    assert stored_event_ids(database) == [first.event_id, last.event_id]
    with database.sessions() as session:
        letters = list_dead_letters(session)[::-1]
    assert [letter.reason for letter in letters] == [reason for _, _, reason in rejected]
    assert [letter.topic for letter in letters] == [where for where, _, _ in rejected]
    assert letters[3].payload_size == len(padded)
    assert "agent-2/cam-9" in letters[-1].detail

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    for where, _, reason in rejected:
        assert any(where in line and reason in line for line in warnings), reason
    assert all("\n" not in line for line in warnings)


@pytest.mark.postgis
def test_event_the_database_refuses_is_dead_lettered(mqtt_url: str, postgis_url: str) -> None:
    # A value the database refuses (here: a constraint the contract does not know) can never be
    # stored by retrying: it must be dead-lettered, not block the events behind it.
    refused = make_event(camera_id="cam-refused")
    following = make_event()
    with (
        opened_database(postgis_url) as database,
        running_consumer(mqtt_url, database, unique_client_id()) as (_, stored),
    ):
        with database.engine.begin() as connection:
            connection.execute(
                sa.text(
                    "ALTER TABLE events"
                    " ADD CONSTRAINT refuse_one CHECK (camera_id <> 'cam-refused')"
                )
            )
        publish_events(mqtt_url, [refused, following])
        wait_until(lambda: stored, STORE_TIMEOUT_S, "the following event")

        assert stored_event_ids(database) == [following.event_id]
        with database.sessions() as session:
            (letter,) = list_dead_letters(session)
    assert letter.reason == "unstorable"
    assert letter.payload == refused.to_json()
    assert "refuse_one" in letter.detail


@pytest.mark.postgis
def test_database_outage_delays_storage_and_loses_nothing(
    mqtt_url: str, postgis_server, postgis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    if postgis_server is None:
        pytest.skip("needs the throw-away PostGIS cluster to cut connections")
    name = make_url(postgis_url).database
    client_id = unique_client_id()
    during_outage, before_restart = make_event(), make_event()

    with opened_database(postgis_url) as database:
        with running_consumer(mqtt_url, database, client_id) as (_, stored):
            block_connections(postgis_server, name)
            publish_events(mqtt_url, [during_outage])
            wait_until(lambda: "cannot store" in caplog.text, STORE_TIMEOUT_S, "a retry warning")
            allow_connections(postgis_server, name)
            # The consumer retries by itself once the database is back.
            wait_until(lambda: stored, STORE_TIMEOUT_S, "the event after the outage")

            caplog.clear()
            block_connections(postgis_server, name)
            publish_events(mqtt_url, [before_restart])
            wait_until(lambda: "cannot store" in caplog.text, STORE_TIMEOUT_S, "a retry warning")
        # Stopped without storing it: the message must still be waiting, unacknowledged.
        allow_connections(postgis_server, name)
        with running_consumer(mqtt_url, database, client_id) as (_, stored_after_restart):
            wait_until(lambda: stored_after_restart, STORE_TIMEOUT_S, "the redelivered event")

        assert stored_event_ids(database) == [during_outage.event_id, before_restart.event_id]


def test_messages_published_while_the_hub_is_down_arrive_later(
    mqtt_url: str, database: Database
) -> None:
    client_id = unique_client_id()
    with running_consumer(mqtt_url, database, client_id):
        pass  # subscribes, then leaves a persistent session behind
    missed = [make_event() for _ in range(3)]
    publish_events(mqtt_url, missed)

    with running_consumer(mqtt_url, database, client_id) as (_, stored):
        wait_until(lambda: len(stored) == 3, STORE_TIMEOUT_S, "the three missed events")

    assert stored_event_ids(database) == [event.event_id for event in missed]


def test_consumer_reconnects_after_a_broker_restart(sqlite_url: str) -> None:
    with (
        mosquitto_broker() as broker,
        opened_database(sqlite_url) as database,
        running_consumer(broker.url, database, unique_client_id()) as (consumer, stored),
    ):
        broker.stop()
        wait_until(lambda: not consumer.connected, STORE_TIMEOUT_S, "the consumer to notice")
        broker.start()
        # This Mosquitto keeps no sessions across restarts: the consumer must subscribe again.
        assert consumer.wait_subscribed(SUBSCRIBE_TIMEOUT_S), "the consumer never came back"
        event = make_event()
        publish_events(broker.url, [event])
        wait_until(lambda: stored, STORE_TIMEOUT_S, "the event published after the restart")

    assert stored_event_ids(database) == [event.event_id]
