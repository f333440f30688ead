"""vigie-hub add-agent against a real Mosquitto running deploy/hub/mosquitto/mosquitto.conf:
each agent writes under its own prefix only, over TLS, with the password the command printed."""

from __future__ import annotations

import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from edge_agent.config import MqttConfig
from hub.agents.provisioning import (
    ProvisioningError,
    check_agent_id,
    ensure_acl_entry,
    mosquitto_password_hash,
    provision_agent,
)
from tests.hubserver import subprocess_env, wait_until
from tests.services import MosquittoBroker, free_port
from vigie_contract import event_topic

pytestmark = pytest.mark.mqtt

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy" / "hub"
GUARD_S = 30
NOT_AUTHORIZED = 0x87


def vigie_hub(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the vigie-hub console script with the working tree's packages."""
    command = [str(Path(sys.executable).with_name("vigie-hub")), *args]
    return subprocess.run(
        command, env=subprocess_env(env or {}), capture_output=True, text=True, timeout=GUARD_S
    )


def printed_agent(output: str) -> tuple[dict, str]:
    """The YAML config block and the password that add-agent printed."""
    yaml_part, _, rest = output.partition("# and in /etc/vigie/agent.env")
    password = re.search(r"^VIGIE_AGENT_MQTT__PASSWORD=(\S+)$", rest, re.MULTILINE).group(1)
    return yaml.safe_load(yaml_part), password


@dataclass
class DeployedBroker:
    """Mosquitto running the deploy config: the hub's listener and the agents' TLS listener."""

    broker: MosquittoBroker
    folder: Path
    internal_port: int
    agents_port: int

    @property
    def passwords(self) -> Path:
        return self.folder / "passwords"

    @property
    def acl(self) -> Path:
        return self.folder / "acl"

    def reload(self) -> None:
        """SIGHUP: Mosquitto re-reads its password and ACL files."""
        self.broker.process.send_signal(signal.SIGHUP)


def render_deploy_config(folder: Path, internal_port: int, agents_port: int) -> str:
    """deploy/hub/mosquitto/mosquitto.conf with its container paths and ports made local."""
    text = (DEPLOY / "mosquitto" / "mosquitto.conf").read_text()
    text = text.replace("/mosquitto/config/", f"{folder}/").replace(
        "/mosquitto/certs/", f"{folder}/"
    )
    text = text.replace("/mosquitto/data/", f"{folder}/data/")
    text = re.sub(r"^listener 1883$", f"listener {internal_port} 127.0.0.1", text, flags=re.M)
    return re.sub(r"^listener 8883$", f"listener {agents_port} 127.0.0.1", text, flags=re.M)


@pytest.fixture(scope="module")
def deployed_broker() -> Iterator[DeployedBroker]:
    """The broker with certificates from make-certs.sh and two agents added by the CLI."""
    # Mosquitto started as root reads its files as the mosquitto user: a world-readable folder.
    folder = Path(tempfile.mkdtemp(prefix="vigie-deploy-"))
    folder.chmod(0o755)
    (folder / "data").mkdir(mode=0o777)
    (folder / "data").chmod(0o777)
    group = "mosquitto" if os.geteuid() == 0 else str(os.getegid())
    subprocess.run(
        [str(DEPLOY / "make-certs.sh"), "localhost", "127.0.0.1", str(folder)],
        env={**os.environ, "BROKER_GROUP": group},
        check=True,
        capture_output=True,
    )
    shutil.copy(DEPLOY / "mosquitto" / "acl", folder / "acl")
    for name in ("acl", "passwords"):
        (folder / name).touch()
        (folder / name).chmod(0o644)
    internal_port, agents_port = free_port(), free_port()
    config = folder / "mosquitto.conf"
    config.write_text(render_deploy_config(folder, internal_port, agents_port))
    deployed = DeployedBroker(
        MosquittoBroker(agents_port, config), folder, internal_port, agents_port
    )
    deployed.broker.start()
    yield deployed
    deployed.broker.stop()
    shutil.rmtree(folder, ignore_errors=True)


def add_agent(broker: DeployedBroker, name: str, *extra: str) -> tuple[dict, str]:
    """Run `vigie-hub add-agent` on the broker's files, reload the broker; (config, password)."""
    result = vigie_hub(
        "add-agent",
        name,
        "--password-file",
        str(broker.passwords),
        "--acl-file",
        str(broker.acl),
        "--broker-url",
        f"mqtts://localhost:{broker.agents_port}",
        "--ca-file",
        str(broker.folder / "ca.crt"),
        *extra,
    )
    assert result.returncode == 0, result.stderr
    broker.reload()
    return printed_agent(result.stdout)


class Subscriber:
    """The hub's view: an anonymous client on the internal listener, recording topics."""

    def __init__(self, port: int) -> None:
        self.topics: list[str] = []
        self._arrived = threading.Condition()
        subscribed = threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, f"hub-{uuid.uuid4().hex[:8]}")
        self._client.on_connect = lambda client, *args: client.subscribe("vigie/v1/#", qos=1)
        self._client.on_subscribe = lambda *args: subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()
        assert subscribed.wait(GUARD_S), "no SUBACK from the internal listener"

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        with self._arrived:
            self.topics.append(message.topic)
            self._arrived.notify_all()

    def wait_for(self, topic: str) -> list[str]:
        """Every topic received up to and including `topic` (or the guard ran out)."""
        with self._arrived:
            self._arrived.wait_for(lambda: topic in self.topics, GUARD_S)
            return list(self.topics)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


class AgentClient:
    """An MQTT 5 client connected the way the printed config says (TLS, user, password)."""

    def __init__(self, config: MqttConfig) -> None:
        self.acks: dict[int, ReasonCode] = {}
        self._acked = threading.Condition()
        self.connect_result: ReasonCode | None = None
        connected = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, f"agent-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5
        )
        self._client.username_pw_set(config.username, config.password.get_secret_value())
        self._client.tls_set(ca_certs=str(config.ca_file), tls_version=ssl.PROTOCOL_TLS_CLIENT)

        def on_connect(client, userdata, flags, reason_code, properties) -> None:
            self.connect_result = reason_code
            connected.set()

        self._client.on_connect = on_connect
        self._client.on_publish = self._on_publish
        self._client.connect(config.host, config.port)
        self._client.loop_start()
        assert connected.wait(GUARD_S), "no CONNACK"

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._acked:
            self.acks[mid] = reason_code
            self._acked.notify_all()

    def publish(self, topic: str) -> ReasonCode:
        """Publish with QoS 1 and return the PUBACK's reason code."""
        info = self._client.publish(topic, b"{}", qos=1)
        with self._acked:
            assert self._acked.wait_for(lambda: info.mid in self.acks, GUARD_S), "no PUBACK"
            return self.acks[info.mid]

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def agent_config(printed: dict, password: str) -> MqttConfig:
    """The device's mqtt section: the printed block plus the password from agent.env."""
    return MqttConfig(**printed["mqtt"], password=password)


def connected_agent(printed: dict, password: str) -> AgentClient:
    """An agent connected with accepted credentials, once the broker's reload has taken them."""
    attempts: list[AgentClient] = []

    def accepted() -> AgentClient | None:
        agent = AgentClient(agent_config(printed, password))
        if agent.connect_result is not None and not agent.connect_result.is_failure:
            return agent
        attempts.append(agent)
        return None

    try:
        return wait_until(accepted, GUARD_S, "the broker to accept the new credentials")
    finally:
        for attempt in attempts:
            attempt.close()


def test_each_agent_writes_only_under_its_own_prefix(deployed_broker: DeployedBroker) -> None:
    printed_a, password_a = add_agent(deployed_broker, "pi-north")
    add_agent(deployed_broker, "pi-south")
    assert printed_a["agent_id"] == "pi-north"
    subscriber = Subscriber(deployed_broker.internal_port)
    agent = connected_agent(printed_a, password_a)
    try:
        own = event_topic("pi-north", "cam-1")
        foreign = event_topic("pi-south", "cam-1")
        assert not agent.publish(own).is_failure
        refused = agent.publish(foreign)
        assert refused.value == NOT_AUTHORIZED, str(refused)
        # Published after the refused one on the same connection: once it is in, the refused
        # message would have been too.
        sentinel = event_topic("pi-north", "cam-2")
        assert not agent.publish(sentinel).is_failure
        received = subscriber.wait_for(sentinel)
        assert own in received
        assert sentinel in received
        assert foreign not in received
    finally:
        agent.close()
        subscriber.close()


def test_a_wrong_password_is_refused_at_connect(deployed_broker: DeployedBroker) -> None:
    printed, password = add_agent(deployed_broker, "pi-east")
    connected_agent(printed, password).close()
    agent = AgentClient(agent_config(printed, "not-the-password"))
    try:
        assert agent.connect_result is not None
        assert agent.connect_result.is_failure
    finally:
        agent.close()


def test_plaintext_mqtt_is_refused_on_the_agents_tls_listener(
    deployed_broker: DeployedBroker,
) -> None:
    _, password = add_agent(deployed_broker, "pi-plain")
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="pi-plain", protocol=mqtt.MQTTv5)
    client.username_pw_set("pi-plain", password)
    # TCP opens, but a TLS listener never takes a plaintext CONNECT: the broker drops it.
    client.connect("127.0.0.1", deployed_broker.agents_port, keepalive=5)
    outcome = mqtt.MQTT_ERR_SUCCESS
    for _ in range(50):
        outcome = client.loop(timeout=0.1)
        if outcome != mqtt.MQTT_ERR_SUCCESS or client.is_connected():
            break
    assert not client.is_connected()
    assert outcome != mqtt.MQTT_ERR_SUCCESS


def test_replace_gives_a_new_password_and_retires_the_old(deployed_broker: DeployedBroker) -> None:
    printed, old_password = add_agent(deployed_broker, "pi-west")
    again = vigie_hub(
        "add-agent",
        "pi-west",
        "--password-file",
        str(deployed_broker.passwords),
        "--acl-file",
        str(deployed_broker.acl),
    )
    assert again.returncode == 1
    assert "already has broker credentials" in again.stderr
    _printed, new_password = add_agent(deployed_broker, "pi-west", "--replace")
    assert new_password != old_password
    assert deployed_broker.acl.read_text().count("user pi-west\n") == 1
    assert deployed_broker.passwords.read_text().count("pi-west:") == 1
    # Once the new password is accepted the reload is done: the old one must then fail.
    new = connected_agent(printed, new_password)
    old = AgentClient(agent_config(printed, old_password))
    try:
        assert old.connect_result.is_failure
        assert not new.publish(event_topic("pi-west", "cam-1")).is_failure
    finally:
        old.close()
        new.close()


def test_files_come_from_settings_and_keep_their_mode(tmp_path: Path) -> None:
    passwords, acl = tmp_path / "passwords", tmp_path / "acl"
    passwords.write_text("")
    passwords.chmod(0o604)
    result = vigie_hub(
        "add-agent",
        "jetson-1",
        env={
            "VIGIE_MQTT_PASSWORD_FILE": str(passwords),
            "VIGIE_MQTT_ACL_FILE": str(acl),
            "VIGIE_AGENT_MQTT_URL": "mqtts://broker.city.example:8883",
        },
    )
    assert result.returncode == 0, result.stderr
    printed, _password = printed_agent(result.stdout)
    assert printed["mqtt"]["url"] == "mqtts://broker.city.example:8883"
    assert passwords.stat().st_mode & 0o777 == 0o604
    assert acl.stat().st_mode & 0o777 == 0o640
    assert "topic write vigie/v1/jetson-1/#" in acl.read_text()


def test_missing_file_settings_is_a_usage_error(tmp_path: Path) -> None:
    result = vigie_hub("add-agent", "pi-1", env={"VIGIE_MQTT_PASSWORD_FILE": ""})
    assert result.returncode == 2
    assert "--password-file" in result.stderr


@pytest.mark.parametrize("name", ["", "-pi", "pi/1", "pi#", "a" * 65, "pi 1", "pi+"])
def test_names_that_cannot_be_a_topic_level_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ProvisioningError, match="invalid agent name"):
        provision_agent(name, tmp_path / "passwords", tmp_path / "acl", "mqtts://b:8883")
    assert not (tmp_path / "passwords").exists()


def test_an_unwritable_folder_is_reported(tmp_path: Path) -> None:
    result = vigie_hub(
        "add-agent",
        "pi-1",
        "--password-file",
        str(tmp_path / "missing" / "passwords"),
        "--acl-file",
        str(tmp_path / "acl"),
    )
    assert result.returncode == 1
    assert "cannot write next to" in result.stderr
    assert "Traceback" not in result.stderr


def test_acl_entry_is_added_once(tmp_path: Path) -> None:
    acl = tmp_path / "acl"
    acl.write_text("# header\n")
    assert ensure_acl_entry(acl, "pi-1") is True
    assert ensure_acl_entry(acl, "pi-1") is False
    assert acl.read_text().count("user pi-1\n") == 1


def test_hash_matches_the_pbkdf2_format() -> None:
    # mosquitto_passwd's format: $7$<iterations>$<base64 salt>$<base64 PBKDF2-SHA512>.
    hashed = mosquitto_password_hash("secret", b"\x00" * 12)
    assert re.fullmatch(r"\$7\$101\$AAAAAAAAAAAAAAAA\$[A-Za-z0-9+/]{86}==", hashed)
    assert check_agent_id("pi-1.north_2") == "pi-1.north_2"
