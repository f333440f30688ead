"""GET /metrics on a real hub (PostGIS + Mosquitto): counters move by exactly what was sent."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.sync.client import ClientConnection, connect

from hub.metrics.registry import HubMetrics, message_kind
from tests.hubserver import (
    api_token,
    bearer,
    hub_settings,
    make_event,
    publish,
    running_hub,
    topic_of,
    wait_until,
)
from tests.services import mosquitto_broker
from vigie_contract import event_topic

pytestmark = pytest.mark.mqtt
INGEST_TIMEOUT_S = 20.0
RECEIVE_TIMEOUT_S = 15.0


@pytest.fixture
def own_mqtt_url() -> Iterator[str]:
    """A broker of this test's own: exact counts need no other test's messages on it."""
    with mosquitto_broker() as broker:
        yield broker.url


def scrape(base_url: str, token: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of GET /metrics, keyed by (sample name, labels)."""
    response = httpx.get(f"{base_url}/metrics", headers=bearer(token), timeout=10)
    response.raise_for_status()
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def receive_events(websocket: ClientConnection, count: int) -> list[dict]:
    """The next `count` events the stream sends, skipping incident changes."""
    events: list[dict] = []
    while len(events) < count:
        message = json.loads(websocket.recv(timeout=RECEIVE_TIMEOUT_S))
        if message["type"] == "event":
            events.append(message["data"])
    return events


def scrape_when(
    base_url: str, token: str, ready: Callable[[dict[tuple[str, frozenset], float]], bool]
) -> dict[tuple[str, frozenset], float]:
    """Scrape until `ready` holds for the samples; return them."""

    def ready_samples() -> dict[tuple[str, frozenset], float] | None:
        samples = scrape(base_url, token)
        return samples if ready(samples) else None

    return wait_until(ready_samples, INGEST_TIMEOUT_S, "the metrics to reach their expected values")


def value(samples: dict[tuple[str, frozenset], float], name: str, **labels: str) -> float:
    """One sample's value, 0 when the hub has not created it yet."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def total_ingested(samples: dict[tuple[str, frozenset], float]) -> float:
    """All ingest outcomes of every kind."""
    return sum(v for (name, _), v in samples.items() if name == "vigie_ingest_messages_total")


def test_metrics_count_ingest_outcomes_rejects_latency_clients_and_relay(
    postgis_url: str, own_mqtt_url: str
) -> None:
    token = api_token(postgis_url, "viewer")
    good = [make_event(camera_id=f"cam-{i}") for i in range(3)]
    # Agent A's topic carrying agent B's identity.
    impostor = make_event(agent_id="agent-b")
    bad = [
        (event_topic("agent-1", "cam-1"), b"{not json"),
        (event_topic("agent-1", "cam-1"), impostor.to_json()),
    ]
    settings = hub_settings(postgis_url, own_mqtt_url, map_tile_url="")
    with running_hub(settings) as base_url:
        assert httpx.get(f"{base_url}/metrics", timeout=10).status_code == 401
        stream = f"ws://{base_url.removeprefix('http://')}/ws/events"
        with connect(stream, additional_headers=bearer(token)) as websocket:
            assert value(scrape(base_url, token), "vigie_websocket_clients") == 1
            publish(own_mqtt_url, [(topic_of(event), event.to_json()) for event in good])
            received = receive_events(websocket, len(good))
            publish(own_mqtt_url, [(topic_of(good[0]), good[0].to_json()), *bad])
            samples = scrape_when(base_url, token, lambda s: total_ingested(s) >= 6)
        after_close = scrape_when(
            base_url, token, lambda s: value(s, "vigie_websocket_clients") == 0
        )
    assert {event["event_id"] for event in received} == {str(e.event_id) for e in good}
    counted = "vigie_ingest_messages_total"
    assert total_ingested(samples) == 6
    assert value(samples, counted, kind="event", outcome="stored") == 3
    assert value(samples, counted, kind="event", outcome="duplicate") == 1
    assert value(samples, counted, kind="event", outcome="rejected") == 2
    rejects = "vigie_ingest_rejects_total"
    assert value(samples, rejects, reason="malformed_json") == 1
    assert value(samples, rejects, reason="identity_mismatch") == 1
    assert value(samples, "vigie_db_write_seconds_count") >= 1
    assert value(samples, "vigie_db_write_seconds_sum") > 0
    # PostgreSQL relays each stored event to this replica's stream exactly once.
    assert value(after_close, "vigie_relay_lag_seconds_count") == 3
    assert value(after_close, "vigie_websocket_clients") == 0


def test_each_hub_app_has_its_own_registry() -> None:
    first, second = HubMetrics(), HubMetrics()
    first.count_ingested([("vigie/v1/a/c/event", "stored", None)])
    assert (
        first.registry.get_sample_value(
            "vigie_ingest_messages_total", {"kind": "event", "outcome": "stored"}
        )
        == 1
    )
    assert (
        second.registry.get_sample_value(
            "vigie_ingest_messages_total", {"kind": "event", "outcome": "stored"}
        )
        is None
    )


@pytest.mark.parametrize(
    ("topic", "kind"),
    [
        ("vigie/v1/a/c/event", "event"),
        ("vigie/v1/a/heartbeat", "heartbeat"),
        ("vigie/v1/a/c/snapshot/x", "snapshot"),
        ("elsewhere/a", "unknown"),
    ],
)
def test_message_kind_comes_from_the_topic(topic: str, kind: str) -> None:
    assert message_kind(topic) == kind
