"""Fault tests, end to end with real processes: a broker restart mid-burst, a 30 s database
outage, an agent cut off from its broker and restarted during the cut, a full outbox. Each
counts what was sent and what was stored: nothing lost, nothing twice, recovery by itself."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from edge_agent.config import MqttConfig
from edge_agent.outbox import Outbox
from edge_agent.publisher import Publisher
from hub.db.engine import Database
from hub.events.models import Event
from tests.hubserver import (
    healthz_ok,
    hub_process,
    make_event,
    opened_database,
    subprocess_env,
    topic_of,
    wait_until,
)
from tests.services import mosquitto_broker, postgis_cluster
from tests.test_agent_outage import write_agent_config
from vigie_contract import EventV1

pytestmark = [pytest.mark.mqtt, pytest.mark.postgis]
# Guards against a hang, never a measure of speed.
GUARD_S = 90.0
DATABASE_OUTAGE_S = 30.0
BROKER_OUTAGE_S = 2.0
# A steady flow: the faults land while events are still being sent.
SEND_PAUSE_S = 0.01
CAMERAS_ENDED = "all cameras ended; waiting for"
CONFIRMED = re.compile(r"threat \w+ confirmed .*, event ([0-9a-f-]{36})")


def stored_ids(database: Database) -> list[str]:
    """Every stored event id, one per row (a duplicate would appear twice)."""
    with database.sessions() as session:
        return [str(event_id) for event_id in session.scalars(sa.select(Event.event_id))]


def hub_env(database_url: str, mqtt_url: str) -> dict[str, str]:
    """`vigie-hub serve` settings with a persistent session of its own."""
    return {
        "VIGIE_DATABASE_URL": database_url,
        "VIGIE_MQTT_URL": mqtt_url,
        "VIGIE_MQTT_CLIENT_ID": f"hub-faults-{uuid.uuid4().hex[:8]}",
    }


class SyntheticAgent:
    """Sends events through the agent's own outbox and publisher, as a real agent does."""

    def __init__(self, mqtt_url: str, outbox_path: Path) -> None:
        self.outbox = Outbox(outbox_path)
        config = MqttConfig(url=mqtt_url, client_id=f"synthetic-{uuid.uuid4().hex[:8]}")
        self.publisher = Publisher(config, self.outbox)
        self.sent: list[str] = []
        self.publisher.start()

    def send(self, events: list[EventV1], pause_s: float) -> None:
        """Commit each event to the outbox (the agent's 'sent'), `pause_s` apart."""
        for event in events:
            self.publisher.publish(topic_of(event), event.to_json())
            self.sent.append(str(event.event_id))
            time.sleep(pause_s)

    def close(self) -> None:
        """Stop publishing; anything unacknowledged stays in the outbox."""
        self.publisher.close()
        self.outbox.close()


@contextmanager
def synthetic_agent(mqtt_url: str, outbox_path: Path) -> Iterator[SyntheticAgent]:
    """A SyntheticAgent, closed afterwards."""
    agent = SyntheticAgent(mqtt_url, outbox_path)
    try:
        yield agent
    finally:
        agent.close()


def assert_each_stored_once(sent: list[str], stored: list[str]) -> None:
    """Nothing lost, nothing stored twice."""
    assert len(stored) == len(set(stored)), "an event was stored twice"
    assert set(stored) == set(sent)
    assert len(stored) == len(sent)


def test_broker_restarted_during_a_burst_loses_and_doubles_nothing(
    postgis_url: str, tmp_path: Path
) -> None:
    events = [make_event() for _ in range(600)]
    with (
        mosquitto_broker(persistence=True) as broker,
        opened_database(postgis_url) as database,
        hub_process(hub_env(postgis_url, broker.url), tmp_path / "hub.log") as (hub, base_url),
        synthetic_agent(broker.url, tmp_path / "outbox.sqlite3") as agent,
    ):
        sender = threading.Thread(target=agent.send, args=(events, SEND_PAUSE_S))
        sender.start()
        try:
            wait_until(lambda: len(stored_ids(database)) >= 50, GUARD_S, "the burst to start")
            broker.stop()
            sent_at_stop = len(agent.sent)
            time.sleep(BROKER_OUTAGE_S)  # the burst goes on into the outbox meanwhile
            broker.start()
        finally:
            sender.join()
        wait_until(lambda: len(stored_ids(database)) >= len(events), GUARD_S, "every event")
        assert hub.poll() is None
        assert wait_until(lambda: healthz_ok(base_url), GUARD_S, "a healthy hub")
        stored = stored_ids(database)

    assert sent_at_stop < len(events), "the restart did not land mid-burst"
    assert_each_stored_once(agent.sent, stored)


def test_database_stopped_30_s_while_events_flow_then_all_stored_once(tmp_path: Path) -> None:
    before, during, after = ([make_event() for _ in range(n)] for n in (50, 200, 50))
    # A cluster of its own: stopping the shared one would fail every other test's database.
    with postgis_cluster() as cluster, mosquitto_broker(persistence=True) as broker:
        cluster.psql("CREATE DATABASE faults TEMPLATE vigie_template")
        url = cluster.url("faults")
        with (
            opened_database(url) as database,
            hub_process(hub_env(url, broker.url), tmp_path / "hub.log") as (hub, base_url),
            synthetic_agent(broker.url, tmp_path / "outbox.sqlite3") as agent,
        ):
            agent.send(before, SEND_PAUSE_S)
            wait_until(lambda: len(stored_ids(database)) == 50, GUARD_S, "the first events")
            cluster.stop()
            # Events keep flowing through the outage, spread over its 30 s.
            agent.send(during, DATABASE_OUTAGE_S / len(during))
            cluster.start()
            agent.send(after, SEND_PAUSE_S)
            wait_until(lambda: len(stored_ids(database)) >= 300, GUARD_S, "every event")
            assert hub.poll() is None, "the hub died with its database"
            assert wait_until(lambda: healthz_ok(base_url), GUARD_S, "a healthy hub")
            stored = stored_ids(database)
        log = (tmp_path / "hub.log").read_text(errors="replace")

    assert_each_stored_once(agent.sent, stored)
    assert "cannot store" in log  # the outage was noticed and retried, not ignored


class CuttableLink:
    """A TCP relay to the broker whose link can be cut (connections dropped, new ones refused)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._cut = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if self._cut:
                    client.close()  # unreachable: the connection dies at once
                    continue
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
                self._open += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                end.close()

    def cut(self) -> None:
        """Drop every open connection and refuse new ones."""
        with self._lock:
            self._cut = True
            for connection in self._open:
                with suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
            self._open.clear()

    def restore(self) -> None:
        """Accept and relay connections again."""
        with self._lock:
            self._cut = False

    def close(self) -> None:
        """Stop listening and drop every connection."""
        self.cut()
        self._listener.close()


def start_agent_process(config: Path, log: Path) -> subprocess.Popen:
    """`vigie-agent run CONFIG` as its own process, logging to `log`."""
    with open(log, "ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "edge_agent.cli", "run", str(config)],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=subprocess_env({"PYTHONUNBUFFERED": "1"}),
        )


def confirmed_ids(log: Path) -> list[str]:
    """The event ids the agent logged as confirmed (each committed to its outbox first)."""
    return CONFIRMED.findall(log.read_text(errors="replace")) if log.exists() else []


def stop_agent(agent: subprocess.Popen) -> int:
    """SIGTERM the agent and return its exit code."""
    agent.send_signal(signal.SIGTERM)
    return agent.wait(GUARD_S)


def test_agent_cut_off_and_restarted_during_the_cut_delivers_every_event_once(
    postgis_url: str, media: Path, models: Path, tmp_path: Path
) -> None:
    agent_log = tmp_path / "agent.log"
    agents: list[subprocess.Popen] = []
    with (
        mosquitto_broker(persistence=True) as broker,
        opened_database(postgis_url) as database,
        hub_process(hub_env(postgis_url, broker.url), tmp_path / "hub.log"),
    ):
        link = CuttableLink(broker.port)
        agent_id = f"agent-{uuid.uuid4().hex[:10]}"
        config = write_agent_config(tmp_path / "agent.yaml", agent_id, link.port, media, models)
        try:
            agents.append(start_agent_process(config, agent_log))
            wait_until(lambda: stored_ids(database), GUARD_S, "a first stored event")
            link.cut()
            at_cut = len(confirmed_ids(agent_log))
            wait_until(
                lambda: len(confirmed_ids(agent_log)) >= at_cut + 3, GUARD_S, "events in the cut"
            )
            assert stop_agent(agents[0]) == 0
            at_restart = len(confirmed_ids(agent_log))
            # Restarted, still cut off, on one pass of the clip: once its camera ends it waits
            # for delivery and exits by itself, so nothing is left behind in its outbox.
            settings = yaml.safe_load(config.read_text())
            settings["cameras"][0]["source"]["loop"] = False
            config.write_text(yaml.safe_dump(settings))
            ends_before = agent_log.read_text(errors="replace").count(CAMERAS_ENDED)
            agents.append(start_agent_process(config, agent_log))
            wait_until(
                lambda: agent_log.read_text(errors="replace").count(CAMERAS_ENDED) > ends_before,
                GUARD_S,
                "the restarted agent to finish its clip with events pending",
            )
            at_restore = len(confirmed_ids(agent_log))
            link.restore()
            assert agents[1].wait(GUARD_S) == 0
            sent = confirmed_ids(agent_log)
            wait_until(lambda: len(stored_ids(database)) >= len(sent), GUARD_S, "every event")
            stored = stored_ids(database)
        finally:
            link.close()
            for agent in agents:
                if agent.poll() is None:
                    agent.kill()

    assert at_restore > at_restart, "the restarted agent confirmed nothing during the cut"
    assert_each_stored_once(sent, stored)


def test_a_full_outbox_drops_by_policy_logs_it_and_the_agent_keeps_running(
    media: Path, models: Path, tmp_path: Path
) -> None:
    agent_log = tmp_path / "agent.log"
    # A port nothing listens on: the broker stays unreachable, every event stays queued.
    with mosquitto_broker() as broker:
        port = broker.port
    config = write_agent_config(tmp_path / "agent.yaml", "full-agent", port, media, models)
    settings = yaml.safe_load(config.read_text())
    settings["outbox"] = {"max_messages": 10}
    config.write_text(yaml.safe_dump(settings))
    agent = start_agent_process(config, agent_log)
    try:
        wait_until(lambda: "outbox full" in agent_log.read_text(), GUARD_S, "a logged drop")
        at_first_drop = len(confirmed_ids(agent_log))
        wait_until(
            lambda: len(confirmed_ids(agent_log)) >= at_first_drop + 5, GUARD_S, "more events"
        )
        assert agent.poll() is None
        assert stop_agent(agent) == 0
    finally:
        if agent.poll() is None:
            agent.kill()

    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        assert outbox.count() <= 10
    assert "dropped the" in agent_log.read_text()


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 96 KiB tmpfs: a real disk that fills up (needs root, as in the test container)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_full_disk_drops_by_policy_logs_it_and_the_agent_keeps_detecting(
    tiny_disk: Path, media: Path, models: Path, tmp_path: Path
) -> None:
    agent_log = tmp_path / "agent.log"
    with mosquitto_broker() as broker:
        port = broker.port  # stopped at once: the broker stays unreachable
    config = write_agent_config(tmp_path / "agent.yaml", "disk-agent", port, media, models)
    settings = yaml.safe_load(config.read_text())
    settings["outbox_path"] = str(tiny_disk / "outbox.sqlite3")
    settings["cameras"][0]["snapshot"] = {"enabled": False}
    config.write_text(yaml.safe_dump(settings))
    agent = start_agent_process(config, agent_log)
    try:
        wait_until(
            lambda: re.search(r"disk is full|dropped the", agent_log.read_text(errors="replace")),
            GUARD_S,
            "the disk to fill up",
        )
        at_full = len(confirmed_ids(agent_log))
        wait_until(
            lambda: (
                len(confirmed_ids(agent_log)) >= at_full + 5
                or "stopped by an unexpected error" in agent_log.read_text(errors="replace")
            ),
            GUARD_S,
            "more events, or the camera to stop",
        )
        log = agent_log.read_text(errors="replace")
        assert "stopped by an unexpected error" not in log, "the full disk stopped the camera"
        assert "dropped the" in log
        assert stop_agent(agent) == 0
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
