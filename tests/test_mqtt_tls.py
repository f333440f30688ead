"""MQTT done properly, against a real Mosquitto: TLS (CA, client certificates), passwords,
WebSocket transport, the retained online status and the last will on a killed agent."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from edge_agent.config import MqttConfig
from edge_agent.outbox import Outbox
from edge_agent.publisher import Publisher
from tests.services import MosquittoBroker, free_port
from tests.test_agent_run import MODEL_FILE, RecordWaiter, drained
from vigie_contract import AgentStatusV1, event_topic, parse_health, status_topic

pytestmark = pytest.mark.mqtt

# Generous guards against a hang, never a measure of speed.
GUARD_S = 30
USER, PASSWORD = "agent-7", "correct horse battery"


@dataclass
class SecureBroker:
    """A Mosquitto with password auth on four listeners: TLS, TLS + client certificate,
    WebSocket, and plain TCP (for the test's own subscriber)."""

    broker: MosquittoBroker
    folder: Path
    tls_port: int
    mtls_port: int
    ws_port: int
    plain_port: int

    def file(self, name: str) -> Path:
        return self.folder / name


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(folder: Path) -> None:
    """A test CA, a server certificate for 127.0.0.1 and a client certificate, all signed by it."""
    openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Vigie test CA",
        "-keyout", "ca.key", "-out", "ca.crt", cwd=folder,
    )  # fmt: skip
    for name, extension in (
        ("server", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
        ("client", "extendedKeyUsage=clientAuth"),
    ):
        openssl(
            "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=folder,
        )  # fmt: skip
        (folder / f"{name}.ext").write_text(extension + "\n")
        openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.crt",
            cwd=folder,
        )  # fmt: skip
    for path in folder.iterdir():
        path.chmod(0o644)  # Mosquitto reads them as its own user


@pytest.fixture(scope="module")
def secure_broker() -> Iterator[SecureBroker]:
    """The broker, with certificates and a password file generated for this module."""
    folder = Path(tempfile.mkdtemp(prefix="vigie-tls-"))
    folder.chmod(0o755)
    make_certificates(folder)
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(folder / "passwords"), USER, PASSWORD],
        check=True,
        capture_output=True,
    )
    (folder / "passwords").chmod(0o644)
    ports = [free_port() for _ in range(4)]
    tls = f"cafile {folder}/ca.crt\ncertfile {folder}/server.crt\nkeyfile {folder}/server.key\n"
    (folder / "mosquitto.conf").write_text(
        f"per_listener_settings false\nallow_anonymous false\n"
        f"password_file {folder}/passwords\npersistence false\n"
        f"listener {ports[0]} 127.0.0.1\n{tls}"
        f"listener {ports[1]} 127.0.0.1\n{tls}require_certificate true\n"
        f"listener {ports[2]} 127.0.0.1\nprotocol websockets\n"
        f"listener {ports[3]} 127.0.0.1\n"
    )
    broker = MosquittoBroker(port=ports[3], config=folder / "mosquitto.conf")
    broker.start()
    yield SecureBroker(broker, folder, *ports)
    broker.stop()
    shutil.rmtree(folder, ignore_errors=True)


class Watcher:
    """A password-authenticated subscriber on the plain listener, recording (topic, payload)."""

    def __init__(self, port: int, topic_filter: str) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self._arrived = threading.Condition()
        subscribed = threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, f"watch-{uuid.uuid4().hex[:8]}")
        self._client.username_pw_set(USER, PASSWORD)
        self._client.on_connect = lambda client, *args: client.subscribe(topic_filter, qos=1)
        self._client.on_subscribe = lambda *args: subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()
        if not subscribed.wait(GUARD_S):
            raise RuntimeError("no SUBACK")

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._arrived:
            self.messages.append((message.topic, message.payload, message.retain))
            self._arrived.notify_all()

    def wait_for(self, predicate) -> list[tuple[str, bytes, bool]]:
        """The messages once `predicate(messages)` holds (or the guard ran out)."""
        with self._arrived:
            self._arrived.wait_for(lambda: predicate(self.messages), GUARD_S)
            return list(self.messages)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@pytest.fixture
def agent_id() -> str:
    return f"agent-{uuid.uuid4().hex[:10]}"


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


def deliver(config: MqttConfig, path: Path, topic: str, payloads: list[bytes]) -> bool:
    """Publish through a real Publisher; whether the outbox drained (every PUBACK came)."""
    with Outbox(path) as outbox, Publisher(config, outbox) as publisher:
        publisher.start()
        for payload in payloads:
            publisher.publish(topic, payload)
        return drained(publisher)


def test_tls_with_a_password_delivers(secure_broker, tmp_path, agent_id):
    topic = event_topic(agent_id, "cam")
    watcher = Watcher(secure_broker.plain_port, topic)
    config = MqttConfig(
        url=f"mqtts://127.0.0.1:{secure_broker.tls_port}",
        client_id=agent_id,
        username=USER,
        password=PASSWORD,
        ca_file=secure_broker.file("ca.crt"),
    )
    payloads = [f"over tls {n}".encode() for n in range(5)]
    try:
        assert deliver(config, tmp_path / "o.sqlite3", topic, payloads)
        received = watcher.wait_for(lambda messages: len(messages) >= 5)
    finally:
        watcher.close()
    assert [payload for _, payload, _ in received] == payloads


def test_a_wrong_password_is_refused_and_the_message_kept(
    secure_broker, tmp_path, agent_id, watch_log
):
    refused = watch_log("refused the connection")
    config = MqttConfig(
        url=f"mqtts://127.0.0.1:{secure_broker.tls_port}",
        client_id=agent_id,
        username=USER,
        password="wrong",
        ca_file=secure_broker.file("ca.crt"),
    )
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        with Publisher(config, outbox) as publisher:
            publisher.start()
            publisher.publish(event_topic(agent_id, "cam"), b"held back")
            assert refused.seen.wait(GUARD_S)
        assert [m.payload for m in outbox.pending()] == [b"held back"]
    assert "Not authorized" in refused.messages[0] or "Bad user name" in refused.messages[0]


def test_client_certificate_auth(secure_broker, tmp_path, agent_id):
    config = MqttConfig(
        url=f"mqtts://127.0.0.1:{secure_broker.mtls_port}",
        client_id=agent_id,
        username=USER,
        password=PASSWORD,
        ca_file=secure_broker.file("ca.crt"),
        cert_file=secure_broker.file("client.crt"),
        key_file=secure_broker.file("client.key"),
    )
    assert deliver(config, tmp_path / "o.sqlite3", event_topic(agent_id, "cam"), [b"mtls"])


def test_no_client_certificate_means_no_connection(secure_broker, tmp_path, agent_id, watch_log):
    # TLS 1.3 rejects a missing client certificate after the handshake: the broker hangs up.
    unreachable = watch_log("lost MQTT broker")
    config = MqttConfig(
        url=f"mqtts://127.0.0.1:{secure_broker.mtls_port}",
        client_id=agent_id,
        username=USER,
        password=PASSWORD,
        ca_file=secure_broker.file("ca.crt"),
    )
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        with Publisher(config, outbox) as publisher:
            publisher.start()
            publisher.publish(event_topic(agent_id, "cam"), b"kept")
            assert unreachable.seen.wait(GUARD_S)
        assert outbox.count() == 1


def test_an_untrusted_server_certificate_means_no_connection(
    secure_broker, tmp_path, agent_id, watch_log
):
    # Without ca_file the system CAs are used, and they do not know the test CA.
    unreachable = watch_log("cannot reach MQTT broker")
    config = MqttConfig(
        url=f"mqtts://127.0.0.1:{secure_broker.tls_port}",
        client_id=agent_id,
        username=USER,
        password=PASSWORD,
    )
    with Outbox(tmp_path / "o.sqlite3") as outbox, Publisher(config, outbox) as publisher:
        publisher.start()
        publisher.publish(event_topic(agent_id, "cam"), b"kept")
        assert unreachable.seen.wait(GUARD_S)


def test_websocket_transport_delivers(secure_broker, tmp_path, agent_id):
    topic = event_topic(agent_id, "cam")
    watcher = Watcher(secure_broker.plain_port, topic)
    config = MqttConfig(
        url=f"ws://127.0.0.1:{secure_broker.ws_port}/mqtt",
        client_id=agent_id,
        username=USER,
        password=PASSWORD,
    )
    assert (config.transport, config.websocket_path) == ("websockets", "/mqtt")
    try:
        assert deliver(config, tmp_path / "o.sqlite3", topic, [b"through websockets"])
        received = watcher.wait_for(lambda messages: len(messages) >= 1)
    finally:
        watcher.close()
    assert [payload for _, payload, _ in received] == [b"through websockets"]


def test_tls_options_need_a_tls_url(tmp_path):
    ca = tmp_path / "ca.crt"
    ca.write_text("not used")
    with pytest.raises(ValueError, match="need a TLS url"):
        MqttConfig(url="mqtt://broker:1883", ca_file=ca)
    with pytest.raises(ValueError, match="cert_file and key_file go together"):
        MqttConfig(url="mqtts://broker", cert_file=ca)
    with pytest.raises(ValueError, match="no such file"):
        MqttConfig(url="wss://broker/mqtt", ca_file=tmp_path / "absent.pem")
    assert MqttConfig(url="wss://broker.example/mqtt").port == 443


# Status and last will, with the real agent program.


def agent_yaml(path: Path, agent_id: str, port: int, media: Path, models: Path) -> Path:
    """An agent config replaying a clip forever in real time, on the plain listener."""
    config = {
        "agent_id": agent_id,
        "mqtt": {"url": f"mqtt://127.0.0.1:{port}", "username": USER, "password": PASSWORD},
        "outbox_path": str(path.parent / "outbox.sqlite3"),
        "detector": {"model": str(models / MODEL_FILE), "threads": 1},
        "cameras": [
            {
                "id": "gate",
                "source": {
                    "type": "file",
                    "path": str(media / "traffic_frames.mp4"),
                    "loop": True,
                    "realtime": True,
                },
                "position": {"lat": 43.6, "lon": 1.44},
                "rules": [{"labels": ["person"], "threat_type": "intrusion", "severity": "low"}],
            }
        ],
    }
    path.write_text(yaml.safe_dump(config))
    return path


def start_agent(config: Path) -> subprocess.Popen:
    """vigie-agent run CONFIG, as its own process."""
    return subprocess.Popen(
        [sys.executable, "-m", "edge_agent.cli", "run", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def statuses(messages: list[tuple[str, bytes, bool]]) -> list[str]:
    return [parse_health(AgentStatusV1, payload).state for _, payload, _ in messages]


def test_a_killed_agent_is_announced_offline_by_its_last_will(
    secure_broker, tmp_path, agent_id, media, models
):
    watcher = Watcher(secure_broker.plain_port, status_topic(agent_id))
    config = agent_yaml(tmp_path / "agent.yaml", agent_id, secure_broker.plain_port, media, models)
    agent = start_agent(config)
    try:
        seen = watcher.wait_for(lambda messages: "online" in statuses(messages))
        assert statuses(seen) == ["online"], agent.stderr.read1().decode() if agent.poll() else ""
        agent.send_signal(signal.SIGKILL)
        agent.wait(GUARD_S)
        seen = watcher.wait_for(lambda messages: len(messages) >= 2)
    finally:
        if agent.poll() is None:
            agent.kill()
        watcher.close()
    assert statuses(seen) == ["online", "offline"]
    will = parse_health(AgentStatusV1, seen[1][1])
    assert will.agent_id == agent_id and will.at is None
    # A late subscriber (the hub after a restart) still learns it: the status is retained.
    late = Watcher(secure_broker.plain_port, status_topic(agent_id))
    try:
        retained = late.wait_for(lambda messages: len(messages) >= 1)
    finally:
        late.close()
    assert statuses(retained) == ["offline"] and retained[0][2] is True


def test_a_stopped_agent_says_offline_itself(secure_broker, tmp_path, agent_id, media, models):
    watcher = Watcher(secure_broker.plain_port, status_topic(agent_id))
    config = agent_yaml(tmp_path / "agent.yaml", agent_id, secure_broker.plain_port, media, models)
    agent = start_agent(config)
    try:
        watcher.wait_for(lambda messages: "online" in statuses(messages))
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(GUARD_S) == 0
        seen = watcher.wait_for(lambda messages: len(messages) >= 2)
    finally:
        if agent.poll() is None:
            agent.kill()
        watcher.close()
    assert statuses(seen) == ["online", "offline"]
    assert parse_health(AgentStatusV1, seen[1][1]).at is not None  # said by the agent
