"""Crash safety: `vigie-hub serve` SIGKILLed in the middle of a burst loses nothing, stores
nothing twice (persistent MQTT session, acknowledgement only after the database commit)."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub.db.engine import Database
from hub.events.models import Event
from tests.hubserver import hub_process, make_event, opened_database, publish_events, wait_until
from vigie_contract import EventV1

pytestmark = [pytest.mark.mqtt, pytest.mark.postgis]
BURST = 1000
CHUNK = 25
# Spreads the burst over about a second, so the kill lands while it is still arriving.
CHUNK_PAUSE_S = 0.02
KILL_AFTER_STORED = 100
STORE_TIMEOUT_S = 60.0


def stored_count(database: Database) -> int:
    """How many events the database holds."""
    with database.sessions() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(Event))


def publish_in_chunks(mqtt_url: str, events: list[EventV1]) -> None:
    """Publish the events CHUNK at a time, each chunk acknowledged by the broker."""
    for start in range(0, len(events), CHUNK):
        publish_events(mqtt_url, events[start : start + CHUNK])
        time.sleep(CHUNK_PAUSE_S)


def test_hub_killed_mid_burst_then_restarted_stores_every_event_once(
    postgis_url: str, mqtt_url: str, tmp_path: Path
) -> None:
    env = {
        "VIGIE_DATABASE_URL": postgis_url,
        "VIGIE_MQTT_URL": mqtt_url,
        # The same client id after the restart: the broker kept that session's messages.
        "VIGIE_MQTT_CLIENT_ID": f"hub-crash-{uuid.uuid4().hex[:8]}",
        "VIGIE_MQTT_SHARED_GROUP": f"crash-{uuid.uuid4().hex[:8]}",
    }
    events = [make_event() for _ in range(BURST)]
    log = tmp_path / "hub.log"
    with opened_database(postgis_url) as database:
        with hub_process(env, log) as (process, _):
            publisher = threading.Thread(target=publish_in_chunks, args=(mqtt_url, events))
            publisher.start()
            try:
                wait_until(
                    lambda: stored_count(database) >= KILL_AFTER_STORED,
                    STORE_TIMEOUT_S,
                    "the first events of the burst",
                )
                process.kill()
                process.wait()
                stored_at_kill = stored_count(database)
            finally:
                publisher.join()
        with hub_process(env, log):
            wait_until(lambda: stored_count(database) >= BURST, STORE_TIMEOUT_S, "the whole burst")
        with database.sessions() as session:
            stored_ids = session.scalars(sa.select(Event.event_id)).all()

    assert KILL_AFTER_STORED <= stored_at_kill < BURST, "the kill did not land mid-burst"
    assert len(stored_ids) == BURST
    assert set(stored_ids) == {event.event_id for event in events}
