"""Store-and-forward with the real agent program, real Mosquitto and the real detector: a broker
outage with an agent restart in the middle loses nothing, and a full outbox drops its oldest."""

from __future__ import annotations

import logging
import shutil
import signal
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from edge_agent.config import config_from_mapping
from edge_agent.outbox import Outbox
from edge_agent.runner import run_agent
from tests.services import MosquittoBroker, free_port
from tests.test_agent_run import MODEL_FILE, EventLog, Subscriber
from tests.test_mqtt_tls import start_agent
from vigie_contract import heartbeat_topic, parse_event, status_topic

pytestmark = pytest.mark.mqtt

# Guards against a hang, never a measure of speed.
GUARD_S = 60
POLL_S = 0.1


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll `condition` until it holds; fail (naming `what`) if the hang guard runs out."""
    deadline = time.monotonic() + GUARD_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"still waiting for {what} after {GUARD_S} s")
        time.sleep(POLL_S)


@pytest.fixture
def persistent_broker() -> Iterator[MosquittoBroker]:
    """A Mosquitto that keeps sessions (and messages for them) across a restart."""
    folder = Path(tempfile.mkdtemp(prefix="vigie-outage-"))
    folder.chmod(0o777)  # Mosquitto writes its database as its own user
    port = free_port()
    config = folder / "mosquitto.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\n"
        f"persistence true\npersistence_location {folder}/\nmax_queued_messages 100000\n"
    )
    broker = MosquittoBroker(port=port, config=config)
    broker.start()
    yield broker
    broker.stop()
    shutil.rmtree(folder, ignore_errors=True)


def write_agent_config(path: Path, agent_id: str, broker_port: int, media: Path, models: Path):
    """The worker clip, looping, a person rule confirming often."""
    config = {
        "agent_id": agent_id,
        "mqtt": {"url": f"mqtt://127.0.0.1:{broker_port}"},
        "outbox_path": str(path.parent / "outbox.sqlite3"),
        "detector": {"model": str(models / MODEL_FILE), "threads": 1},
        "cameras": [
            {
                "id": "hall",
                "source": {
                    "type": "file",
                    "path": str(media / "worker-zone-detection.gif"),
                    "loop": True,
                },
                "interval_s": 0.05,
                "position": {"lat": 43.6045, "lon": 1.444},
                "motion": {"enabled": False},
                "rules": [
                    {
                        "labels": ["person"],
                        "threat_type": "intrusion",
                        "severity": "high",
                        "confirm_frames": 2,
                        "cooldown_s": 0,
                    }
                ],
            }
        ],
    }
    path.write_text(yaml.safe_dump(config))
    return path


def queued(outbox_path: Path) -> list[tuple[str, bytes]]:
    """What the outbox holds now, oldest first."""
    with Outbox(outbox_path) as outbox:
        return [(m.topic, m.payload) for m in outbox.pending(limit=1_000_000)]


def outbox_messages(received: list[tuple[str, bytes]], agent_id: str) -> list[tuple[str, bytes]]:
    """Received messages that come from the outbox (not heartbeats or the agent status), each
    once (QoS 1 is at least once), in arrival order."""
    direct = {heartbeat_topic(agent_id), status_topic(agent_id)}
    return list(dict.fromkeys(m for m in received if m[0] not in direct))


def test_outage_and_restart_lose_nothing_and_keep_order(persistent_broker, media, models, tmp_path):
    agent_id = f"agent-{uuid.uuid4().hex[:10]}"
    broker = persistent_broker
    config = write_agent_config(tmp_path / "agent.yaml", agent_id, broker.port, media, models)
    outbox_path = tmp_path / "outbox.sqlite3"
    subscriber = Subscriber(broker.url, f"vigie/v1/{agent_id}/#", session=f"{agent_id}-hub")
    first = start_agent(config)
    second = None
    try:
        wait_until(lambda: outbox_messages(subscriber.messages, agent_id), "a first delivery")
        broker.stop()
        before = len(queued(outbox_path))
        # The agent keeps detecting: events pile up on disk while the broker is away.
        wait_until(lambda: len(queued(outbox_path)) >= before + 4, "events queued in the outage")
        first.send_signal(signal.SIGTERM)
        assert first.wait(GUARD_S) == 0
        kept = queued(outbox_path)
        assert kept, "the outage left nothing queued"

        second = start_agent(config)  # the restart, still during the outage
        wait_until(lambda: len(queued(outbox_path)) > len(kept), "the restarted agent queuing")
        broker.start()
        wait_until(
            lambda: set(kept) <= set(outbox_messages(subscriber.messages, agent_id)),
            "every kept message delivered",
        )
        second.send_signal(signal.SIGTERM)
        assert second.wait(GUARD_S) == 0
    finally:
        for agent in (first, second):
            if agent is not None and agent.poll() is None:
                agent.kill()
        subscriber.close()

    delivered = outbox_messages(subscriber.messages, agent_id)
    start = delivered.index(kept[0])
    # Exactly as sent (topic and payload bytes), in order, nothing between them.
    assert delivered[start : start + len(kept)] == kept
    events = [parse_event(payload) for topic, payload in delivered if topic.endswith("/event")]
    assert sum(1 for topic, _ in kept if topic.endswith("/event")) >= 2
    times = [event.captured_at for event in events]
    assert times == sorted(times)


def test_a_full_outbox_drops_its_oldest_and_the_agent_keeps_running(media, models, tmp_path):
    outbox_path = tmp_path / "outbox.sqlite3"
    config = config_from_mapping(
        {
            "agent_id": "full-agent",
            # Nothing listens there: every event stays in the outbox.
            "mqtt": {"url": f"mqtt://127.0.0.1:{free_port()}"},
            "outbox_path": str(outbox_path),
            "outbox": {"max_messages": 10},
            "detector": {"model": str(models / MODEL_FILE), "threads": 1},
            "cameras": [
                {
                    "id": "hall",
                    "source": {
                        "type": "file",
                        "path": str(media / "worker-zone-detection.gif"),
                        "loop": True,
                    },
                    "interval_s": 0,
                    "position": {"lat": 43.6, "lon": 1.44},
                    "motion": {"enabled": False},
                    "snapshot": {"enabled": False},
                    "rules": [
                        {
                            "labels": ["person"],
                            "threat_type": "intrusion",
                            "severity": "high",
                            "confirm_frames": 1,
                            "cooldown_s": 0,
                        }
                    ],
                }
            ],
        },
        base_dir=tmp_path,
    )
    event_log = EventLog()
    drops: list[str] = []
    events_at_first_drop: list[int] = []
    stop = threading.Event()

    class DropWatcher(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "dropped the" in record.getMessage():
                drops.append(record.getMessage())
                if not events_at_first_drop:
                    events_at_first_drop.append(len(event_log.event_ids))
            # Keep running well past the first drop, then stop.
            if events_at_first_drop and len(event_log.event_ids) >= events_at_first_drop[0] + 5:
                stop.set()

    runner_logger = logging.getLogger("edge_agent.runner")
    outbox_logger = logging.getLogger("edge_agent.outbox")
    watcher = DropWatcher()
    runner_logger.addHandler(event_log)
    runner_logger.addHandler(watcher)
    outbox_logger.addHandler(watcher)
    runner_logger.setLevel(logging.INFO)
    guard = threading.Timer(GUARD_S, stop.set)
    guard.start()
    try:
        run_agent(config, stop)
    finally:
        guard.cancel()
        runner_logger.removeHandler(event_log)
        runner_logger.removeHandler(watcher)
        outbox_logger.removeHandler(watcher)
        runner_logger.setLevel(logging.NOTSET)

    assert drops, "the outbox never reached its limit"
    assert drops[0].startswith("outbox full (11 messages")
    assert len(event_log.event_ids) >= events_at_first_drop[0] + 5  # it kept detecting
    remaining = queued(outbox_path)
    assert len(remaining) <= 10
    # Camera status messages may share the outbox; the events kept are the newest ones.
    kept_ids = [
        str(parse_event(payload).event_id)
        for topic, payload in remaining
        if topic.endswith("/event")
    ]
    assert kept_ids
    assert kept_ids == event_log.event_ids[-len(kept_ids) :]
