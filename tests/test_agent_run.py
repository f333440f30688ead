"""The agent end to end: real clip, TFLite model and Mosquitto; outages keep events on disk."""

from __future__ import annotations

import hashlib
import logging
import shutil
import signal
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import cv2
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge_agent.config import AgentConfig, MqttConfig, config_from_mapping
from edge_agent.detectors import create_detector
from edge_agent.outbox import Outbox
from edge_agent.publisher import Publisher
from edge_agent.runner import SharedDetector, run_agent, run_camera
from tests.services import MosquittoBroker, free_port
from vigie_contract import ModelInfo, event_topic, parse_event

pytestmark = pytest.mark.mqtt

MODEL_FILE = "mobilenet_ssd_v2_coco_quant_postprocess.tflite"
# Generous guards against a hang, never a measure of speed.
DELIVERY_GUARD_S = 30
RECONNECT_DELAY_S = 0.2


class Subscriber:
    """A real MQTT client recording (topic, payload) of every message under a filter, in order.

    `session` names a persistent session: the broker then keeps the subscription and queues
    messages while this client is away (e.g. across a broker restart with persistence).
    """

    def __init__(self, url: str, topic_filter: str, session: str | None = None) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._arrived = threading.Condition()
        subscribed = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=session or f"test-sub-{uuid.uuid4().hex[:8]}",
            clean_session=session is None,
        )
        self._client.on_connect = lambda client, *args: client.subscribe(topic_filter, qos=1)
        self._client.on_subscribe = lambda *args: subscribed.set()
        self._client.on_message = self._on_message
        self._client.reconnect_delay_set(RECONNECT_DELAY_S, RECONNECT_DELAY_S)
        parts = urlsplit(url)
        self._client.connect(parts.hostname, parts.port)
        self._client.loop_start()
        if not subscribed.wait(DELIVERY_GUARD_S):
            raise RuntimeError(f"no SUBACK from {url}")

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._arrived:
            self.messages.append((message.topic, message.payload))
            self._arrived.notify_all()

    def wait_for(self, count: int) -> list[tuple[str, bytes]]:
        """The messages received once `count` have arrived (or the guard ran out)."""
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.messages) >= count, DELIVERY_GUARD_S)
            return list(self.messages)

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self._client.disconnect()
        self._client.loop_stop()


class EventLog(logging.Handler):
    """Records the event ids the runner logs as confirmed; sets `stop` when a camera ends."""

    def __init__(self, stop_when_cameras_end: threading.Event | None = None) -> None:
        super().__init__(level=logging.INFO)
        self.event_ids: list[str] = []
        self.stop = stop_when_cameras_end

    def emit(self, record: logging.LogRecord) -> None:
        if hasattr(record, "event_id"):
            self.event_ids.append(record.event_id)
        elif record.getMessage().endswith("capture ended") and self.stop is not None:
            self.stop.set()


def drained(publisher: Publisher) -> bool:
    """Whether the publisher's outbox empties before the hang guard runs out."""
    guard = threading.Event()
    timer = threading.Timer(DELIVERY_GUARD_S, guard.set)
    timer.start()
    try:
        return publisher.wait_drained(guard)
    finally:
        timer.cancel()


@pytest.fixture
def agent_id() -> str:
    """A fresh agent id, so tests sharing the session broker never see each other's events."""
    return f"agent-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def subscriber(mqtt_url, agent_id) -> Iterator[Subscriber]:
    """A subscriber to every event topic of this test's agent on the real broker."""
    client = Subscriber(mqtt_url, f"vigie/v1/{agent_id}/+/event")
    yield client
    client.close()


@pytest.fixture
def event_log() -> Iterator[EventLog]:
    """The runner's confirmed-event log lines, captured."""
    handler = EventLog()
    logger = logging.getLogger("edge_agent.runner")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)


class RecordWaiter(logging.Handler):
    """Sets `seen` when a record whose message contains `text` is logged."""

    def __init__(self, text: str) -> None:
        super().__init__(level=logging.DEBUG)
        self.text = text
        self.seen = threading.Event()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if self.text in message:
            self.messages.append(message)
            self.seen.set()


@pytest.fixture
def private_broker() -> Iterator[MosquittoBroker]:
    """A Mosquitto of this test's own, not started: write its config first, then start it."""
    # Started as root, Mosquitto drops to its own user before reading an ACL file, so the
    # folder must be readable by others (pytest's tmp_path is not).
    folder = Path(tempfile.mkdtemp(prefix="vigie-broker-"))
    folder.chmod(0o755)
    broker = MosquittoBroker(port=free_port(), config=folder / "mosquitto.conf")
    yield broker
    broker.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def watch_log() -> Iterator[Any]:
    """Attach RecordWaiter handlers to the edge_agent logger for the test's duration."""
    logger = logging.getLogger("edge_agent")
    attached: list[RecordWaiter] = []

    def watch(text: str) -> RecordWaiter:
        waiter = RecordWaiter(text)
        logger.addHandler(waiter)
        attached.append(waiter)
        return waiter

    previous_level = logger.level
    logger.setLevel(logging.INFO)
    yield watch
    for waiter in attached:
        logger.removeHandler(waiter)
    logger.setLevel(previous_level)


def agent_config(
    agent_id: str,
    broker_url: str,
    outbox: Path,
    media: Path,
    models: Path,
    loop: bool = False,
    confirm_frames: int = 10,
) -> AgentConfig:
    """One camera replaying the worker GIF (once by default) as fast as possible, a person rule."""
    return config_from_mapping(
        {
            "agent_id": agent_id,
            "mqtt": {"url": broker_url},
            "outbox_path": str(outbox),
            "detector": {"model": str(models / MODEL_FILE), "threads": 1},
            "cameras": [
                {
                    "id": "hall-1",
                    "source": {
                        "type": "file",
                        "path": str(media / "worker-zone-detection.gif"),
                        "loop": loop,
                    },
                    "interval_s": 0,
                    "position": {"lat": 43.6045, "lon": 1.4440, "accuracy_m": 8},
                    "rules": [
                        {
                            "labels": ["person"],
                            "threat_type": "intrusion",
                            "severity": "high",
                            "min_score": 0.5,
                            "confirm_frames": confirm_frames,
                            "cooldown_s": 0,
                            "perimeter_m": 35,
                        }
                    ],
                }
            ],
        },
        base_dir=outbox.parent,
    )


def test_run_agent_publishes_valid_events_for_a_clip(
    mqtt_url, media, models, tmp_path, agent_id, subscriber, event_log
):
    outbox_path = tmp_path / "outbox.sqlite3"

    run_agent(agent_config(agent_id, mqtt_url, outbox_path, media, models))

    assert event_log.event_ids, "the person in the worker clip confirmed no threat"
    received = subscriber.wait_for(len(event_log.event_ids))
    assert len(received) == len(event_log.event_ids)
    model_sha256 = hashlib.sha256((models / MODEL_FILE).read_bytes()).hexdigest()
    events = []
    for topic, payload in received:
        assert topic == event_topic(agent_id, "hall-1")
        events.append(parse_event(payload))
    assert [str(event.event_id) for event in events] == event_log.event_ids
    for event in events:
        assert (event.agent_id, event.camera_id) == (agent_id, "hall-1")
        assert (event.threat_type, event.severity, event.perimeter_m) == ("intrusion", "high", 35)
        assert (event.location.lat, event.location.lon) == (43.6045, 1.4440)
        assert (event.location.source, event.location.accuracy_m) == ("camera", 8)
        assert {d.label for d in event.detections} == {"person"}
        assert min(d.score for d in event.detections) >= 0.5
        assert event.model.name == Path(MODEL_FILE).stem
        assert event.model.sha256 == model_sha256
    times = [event.captured_at for event in events]
    assert times == sorted(times)
    with Outbox(outbox_path) as outbox:
        assert outbox.count() == 0


def test_events_wait_out_an_outage_and_are_delivered_in_order_next_run(
    mqtt_url, media, models, tmp_path, agent_id, subscriber, event_log, watch_log
):
    outbox_path = tmp_path / "outbox.sqlite3"
    nothing_listens = f"mqtt://127.0.0.1:{free_port()}"
    stop = threading.Event()
    event_log.stop = stop
    kept = watch_log("undelivered message(s)")

    run_agent(agent_config(agent_id, nothing_listens, outbox_path, media, models), stop)

    with Outbox(outbox_path) as outbox:
        queued = outbox.pending(limit=1000)
    # Each event waits behind its snapshot; camera status rows may be queued too.
    stored = [
        parse_event(message.payload) for message in queued if message.topic.endswith("/event")
    ]
    snapshots = [message.topic for message in queued if "/snapshot/" in message.topic]
    assert [topic.rsplit("/", 1)[1] for topic in snapshots] == [str(e.event_id) for e in stored]
    assert len(stored) >= 2, "the clip should confirm several threats"
    assert [str(event.event_id) for event in stored] == event_log.event_ids
    assert kept.messages == [
        f"stopped with {len(queued)} undelivered message(s) (events, snapshots, statuses)"
        f" kept in {outbox_path} for the next run"
    ]

    event_log.stop = None
    first_run_count = len(event_log.event_ids)
    run_agent(agent_config(agent_id, mqtt_url, outbox_path, media, models))

    received = subscriber.wait_for(len(event_log.event_ids))
    received_ids = [str(parse_event(payload).event_id) for _, payload in received]
    # The stored events come first, in their original order, then this run's own.
    assert received_ids[:first_run_count] == [str(event.event_id) for event in stored]
    assert received_ids == event_log.event_ids
    with Outbox(outbox_path) as outbox:
        assert outbox.count() == 0


def test_publisher_keeps_order_through_a_small_in_flight_window(mqtt_url, tmp_path, agent_id):
    topic = event_topic(agent_id, "cam")
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        # Left over from a previous run: must go out before anything new.
        for n in range(5):
            outbox.put(topic, f"old-{n}".encode())
        subscriber = Subscriber(mqtt_url, topic)
        config = MqttConfig(url=mqtt_url, client_id=f"{agent_id}-pub")
        with Publisher(config, outbox, max_inflight=3) as publisher:
            publisher.start()
            for n in range(60):
                publisher.publish(topic, f"new-{n}".encode())
            assert drained(publisher)
        received = subscriber.wait_for(65)
        subscriber.close()
        assert outbox.count() == 0

    expected = [f"old-{n}".encode() for n in range(5)] + [f"new-{n}".encode() for n in range(60)]
    assert [payload for _, payload in received] == expected


def test_publisher_connects_when_the_broker_comes_up_late(tmp_path, agent_id, caplog):
    port = free_port()
    broker_config = tmp_path / "mosquitto.conf"
    broker_config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
    broker = MosquittoBroker(port=port, config=broker_config)
    topic = event_topic(agent_id, "cam")
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        config = MqttConfig(url=f"mqtt://127.0.0.1:{port}", client_id=f"{agent_id}-pub")
        with Publisher(config, outbox) as publisher, caplog.at_level(logging.WARNING):
            publisher.start()
            for n in range(5):
                publisher.publish(topic, f"event-{n}".encode())
            try:
                broker.start()
                assert drained(publisher)
            finally:
                broker.stop()
        assert outbox.count() == 0
    assert f"cannot reach MQTT broker 127.0.0.1:{port}" in caplog.text


def test_closing_before_delivery_keeps_the_messages(tmp_path, agent_id):
    topic = event_topic(agent_id, "cam")
    path = tmp_path / "outbox.sqlite3"
    with Outbox(path) as outbox:
        config = MqttConfig(url=f"mqtt://127.0.0.1:{free_port()}", client_id=agent_id)
        with Publisher(config, outbox) as publisher:
            publisher.start()
            publisher.publish(topic, b"first")
            publisher.publish(topic, b"second")
            stop = threading.Event()
            stop.set()
            assert publisher.wait_drained(stop) is False
    with Outbox(path) as reopened:
        assert [m.payload for m in reopened.pending()] == [b"first", b"second"]


def test_refused_credentials_are_logged_and_messages_kept(
    private_broker, tmp_path, agent_id, watch_log
):
    broker = private_broker
    broker.config.write_text(f"listener {broker.port} 127.0.0.1\nallow_anonymous false\n")
    broker.start()
    refused = watch_log("refused the connection")
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        config = MqttConfig(
            url=f"mqtt://127.0.0.1:{broker.port}", username="intruder", password="guess"
        )
        with Publisher(config, outbox) as publisher:
            publisher.start()
            publisher.publish(event_topic(agent_id, "cam"), b"held back")
            assert refused.seen.wait(DELIVERY_GUARD_S)
        assert [m.payload for m in outbox.pending()] == [b"held back"]
    assert refused.messages[0].startswith(f"MQTT broker 127.0.0.1:{broker.port} refused")


def test_a_message_the_broker_refuses_is_logged_and_dropped(
    private_broker, tmp_path, agent_id, watch_log
):
    broker = private_broker
    acl = broker.config.with_name("acl")
    # Anonymous clients may read everything and write nothing: MQTT 5 PUBACK "Not authorized".
    acl.write_text("topic read #\n")
    broker.config.write_text(
        f"listener {broker.port} 127.0.0.1\nallow_anonymous true\nacl_file {acl}\n"
    )
    broker.start()
    refused = watch_log("broker refused outbox message")
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        config = MqttConfig(url=f"mqtt://127.0.0.1:{broker.port}", client_id=agent_id)
        with Publisher(config, outbox) as publisher:
            publisher.start()
            publisher.publish(event_topic(agent_id, "cam"), b"forbidden 1")
            publisher.publish(event_topic(agent_id, "cam"), b"forbidden 2")
            assert drained(publisher)
        assert outbox.count() == 0
    assert len(refused.messages) == 2
    assert "Not authorized" in refused.messages[0]


def test_a_failing_camera_is_logged_and_ends_without_raising(
    media, models, tmp_path, agent_id, watch_log
):
    config = agent_config(
        agent_id, "mqtt://127.0.0.1:1", tmp_path / "o.sqlite3", media, models, confirm_frames=1
    )
    detector = SharedDetector([create_detector(config.detector)])
    crashed = watch_log("stopped by an unexpected error")
    ended = watch_log("capture ended")
    outbox = Outbox(tmp_path / "closed.sqlite3")
    outbox.close()  # the first event's write fails, as on a lost disk
    publisher = Publisher(config.mqtt, outbox)

    run_camera(
        config.cameras[0], agent_id, detector, ModelInfo(name="m"), publisher, threading.Event()
    )

    assert crashed.messages == ["camera hall-1: stopped by an unexpected error"]
    assert ended.messages == ["camera hall-1: capture ended"]


def test_ctrl_c_stops_the_cameras_and_keeps_undelivered_events(
    media, models, tmp_path, agent_id, watch_log
):
    nothing_listens = f"mqtt://127.0.0.1:{free_port()}"
    outbox_path = tmp_path / "outbox.sqlite3"
    config = agent_config(agent_id, nothing_listens, outbox_path, media, models, loop=True)
    kept = watch_log("undelivered message(s)")

    class InterruptOnFirstEvent(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if hasattr(record, "event_id"):
                # What Ctrl-C does: SIGINT, handled as KeyboardInterrupt in the main thread.
                signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    interrupter = InterruptOnFirstEvent()
    logging.getLogger("edge_agent.runner").addHandler(interrupter)
    stop = threading.Event()
    try:
        run_agent(config, stop)
    finally:
        logging.getLogger("edge_agent.runner").removeHandler(interrupter)

    assert stop.is_set()
    assert kept.seen.is_set()
    with Outbox(outbox_path) as outbox:
        assert outbox.count() >= 1


def test_publisher_resumes_in_order_after_a_broker_restart(private_broker, tmp_path, agent_id):
    broker = private_broker
    # Persistence keeps the subscriber's session (and messages for it) across the restart.
    broker.config.parent.chmod(0o777)  # Mosquitto writes its database as its own user
    broker.config.write_text(
        f"listener {broker.port} 127.0.0.1\nallow_anonymous true\n"
        f"persistence true\npersistence_location {broker.config.parent}/\n"
    )
    broker.start()
    url = f"mqtt://127.0.0.1:{broker.port}"
    topic = event_topic(agent_id, "cam")
    subscriber = Subscriber(url, topic, session=f"{agent_id}-sub")
    expected = [f"event-{n}".encode() for n in range(90)]
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        with Publisher(
            MqttConfig(url=url, client_id=agent_id), outbox, max_inflight=5
        ) as publisher:
            publisher.start()
            for payload in expected[:30]:
                publisher.publish(topic, payload)
            broker.stop()
            for payload in expected[30:60]:
                publisher.publish(topic, payload)
            broker.start()
            for payload in expected[60:]:
                publisher.publish(topic, payload)
            assert drained(publisher)
        assert outbox.count() == 0
    received = subscriber.wait_for(len(expected))
    subscriber.close()

    # At least once: a message in flight during the stop may come twice, never out of order.
    payloads = [payload for _, payload in received]
    assert list(dict.fromkeys(payloads)) == expected


def test_cameras_share_a_pool_of_interpreters_with_identical_results(media, models, tmp_path):
    config = agent_config("pool", "mqtt://127.0.0.1:1", tmp_path / "o.sqlite3", media, models)
    detectors = [create_detector(config.detector) for _ in range(2)]
    pool = SharedDetector(detectors)
    images = [cv2.imread(str(media / name)) for name in ("grace_hopper.jpg", "backpackman.jpg")]
    expected = [detectors[0].detect(image) for image in images]
    used: set[int] = set()
    results: dict[int, list] = {}

    def camera(index: int) -> None:
        # Each camera detects the same pictures over and over, as the others do.
        results[index] = [pool.detect(images[(index + turn) % 2]) for turn in range(12)]

    originals = [detector.detect for detector in detectors]
    for slot, detector in enumerate(detectors):
        detector.detect = lambda image, run=originals[slot], slot=slot: used.add(slot) or run(image)
    threads = [threading.Thread(target=camera, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    for index, found in results.items():
        assert found == [expected[(index + turn) % 2] for turn in range(12)]
    assert used == {0, 1}
    assert pool.name == detectors[0].name and pool.sha256 == detectors[0].sha256
