"""The hub's Prometheus metrics, in a registry of their own per application."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from vigie_contract import parse_topic
from vigie_contract.event import utc_now

# Seconds; from a fast local commit to a database under strain.
DB_WRITE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
RELAY_LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# The kind of a message on a topic that is no v1 topic (and not the Frigate one either).
UNKNOWN_KIND = "unknown"
# The kind of a message from a Frigate NVR (hub.ingest.frigate).
FRIGATE_KIND = "frigate"


class HubMetrics:
    """Every metric of one hub application, registered in its own CollectorRegistry.

    A registry per application (not prometheus_client's global one) lets several hubs live in
    one process, as tests and benchmarks run them, without their counts mixing.
    """

    def __init__(self, frigate_topic: str | None = None) -> None:
        self.registry = CollectorRegistry()
        self._frigate_topic = frigate_topic
        self.ingest_messages = Counter(
            "vigie_ingest_messages",
            "MQTT messages ingested, by message kind and committed outcome.",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.ingest_rejects = Counter(
            "vigie_ingest_rejects",
            "Messages dead-lettered, by rejection reason.",
            ["reason"],
            registry=self.registry,
        )
        self.db_write_seconds = Histogram(
            "vigie_db_write_seconds",
            "Time to validate and commit one ingest batch to the database.",
            buckets=DB_WRITE_BUCKETS,
            registry=self.registry,
        )
        self.websocket_clients = Gauge(
            "vigie_websocket_clients",
            "WebSocket clients connected to /ws/events on this replica.",
            registry=self.registry,
        )
        self.relay_lag_seconds = Histogram(
            "vigie_relay_lag_seconds",
            "From an event's receipt by any replica to its hand-over to this replica's stream.",
            buckets=RELAY_LAG_BUCKETS,
            registry=self.registry,
        )

    def count_ingested(self, outcomes: Iterable[tuple[str, str, str | None]]) -> None:
        """Count (topic, outcome, rejection reason) triples of committed messages."""
        for topic, outcome, reason in outcomes:
            kind = FRIGATE_KIND if topic == self._frigate_topic else message_kind(topic)
            self.ingest_messages.labels(kind=kind, outcome=outcome).inc()
            if outcome == "rejected":
                self.ingest_rejects.labels(reason=reason or UNKNOWN_KIND).inc()

    def observe_relay_lag(self, received_at: Sequence[datetime]) -> None:
        """Record how long ago each relayed event was received."""
        now = utc_now()
        for moment in received_at:
            # Clocks of replicas may differ slightly: a negative lag counts as none.
            self.relay_lag_seconds.observe(max(0.0, (now - moment).total_seconds()))


def message_kind(topic: str) -> str:
    """The v1 message kind a topic names, or "unknown"."""
    info = parse_topic(topic)
    return info.kind if info is not None else UNKNOWN_KIND
