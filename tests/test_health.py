"""Agent health on a real broker: the heartbeat of a running clip, and a camera that goes dark and
comes back (retained camera status), with the real detector."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from edge_agent import __version__
from edge_agent.config import AgentConfig, config_from_mapping
from edge_agent.health import CameraStats, cpu_temperature
from edge_agent.runner import run_agent
from tests.test_agent_run import MODEL_FILE, Subscriber
from vigie_contract import (
    CameraStatusV1,
    HeartbeatV1,
    camera_status_topic,
    heartbeat_topic,
    parse_health,
)

pytestmark = pytest.mark.mqtt


def health_config(
    agent_id: str, mqtt_url: str, tmp_path: Path, models: Path, source: dict
) -> AgentConfig:
    """One camera polled every 0.1 s, a 1 s heartbeat."""
    return config_from_mapping(
        {
            "agent_id": agent_id,
            "mqtt": {"url": mqtt_url},
            "outbox_path": str(tmp_path / "outbox.sqlite3"),
            "heartbeat": {"interval_s": 1},
            "detector": {"model": str(models / MODEL_FILE), "threads": 1},
            "cameras": [
                {
                    "id": "door",
                    "source": source,
                    "interval_s": 0.1,
                    "position": {"lat": 43.6, "lon": 1.44},
                    "rules": [
                        {"labels": ["person"], "threat_type": "intrusion", "severity": "low"}
                    ],
                }
            ],
        },
        base_dir=tmp_path,
    )


class RunningAgent:
    """run_agent in a thread, stopped on exit."""

    def __init__(self, config: AgentConfig) -> None:
        self.stop = threading.Event()
        self._thread = threading.Thread(target=run_agent, args=(config, self.stop), daemon=True)

    def __enter__(self) -> RunningAgent:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        self._thread.join()


@pytest.fixture
def agent_id() -> str:
    return f"agent-{uuid.uuid4().hex[:10]}"


def test_heartbeat_of_a_running_clip(mqtt_url, media, models, tmp_path, agent_id):
    source = {
        "type": "file",
        "path": str(media / "traffic_frames.mp4"),
        "loop": True,
        "realtime": True,
    }
    config = health_config(agent_id, mqtt_url, tmp_path, models, source)
    subscriber = Subscriber(mqtt_url, heartbeat_topic(agent_id))
    try:
        with RunningAgent(config):
            received = subscriber.wait_for(2)
    finally:
        subscriber.close()
    assert len(received) >= 2
    beat = parse_health(HeartbeatV1, received[1][1])
    assert (beat.agent_id, beat.version) == (agent_id, __version__)
    assert beat.queue_depth == 0 and beat.outbox_dropped == 0
    assert beat.uptime_s > 0 and beat.cpu_load is not None and beat.cpu_load >= 0
    (camera,) = beat.cameras
    assert (camera.camera_id, camera.state) == ("door", "online")
    assert camera.fps > 0
    assert camera.inference_ms is not None and camera.inference_ms > 0
    assert camera.motion_ratio is not None and 0 < camera.motion_ratio <= 1
    assert camera.last_frame_at is not None


class SwitchableCamera(ThreadingHTTPServer):
    """A local snapshot camera that can be switched off (HTTP 503) and on again."""

    def __init__(self, jpeg: bytes) -> None:
        super().__init__(("127.0.0.1", 0), SwitchableHandler)
        self.jpeg = jpeg
        self.on = threading.Event()
        self.on.set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/snapshot.jpg"


class SwitchableHandler(BaseHTTPRequestHandler):
    server: SwitchableCamera

    def do_GET(self) -> None:
        status, body = (200, self.server.jpeg) if self.server.on.is_set() else (503, b"dark")
        self.send_response(status)
        self.send_header("Content-Type", "image/jpeg" if status == 200 else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def camera(media) -> Iterator[SwitchableCamera]:
    server = SwitchableCamera((media / "backpackman.jpg").read_bytes())
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def camera_states(messages: list[tuple[str, bytes]]) -> list[str]:
    return [parse_health(CameraStatusV1, payload).state for _, payload in messages]


def test_a_camera_that_goes_dark_is_reported_offline_then_online(
    mqtt_url, models, tmp_path, agent_id, camera
):
    source = {
        "type": "http_snapshot",
        "url": camera.url,
        "offline_after_s": 1,
        "reconnect_min_s": 0.1,
        "reconnect_max_s": 0.2,
    }
    config = health_config(agent_id, mqtt_url, tmp_path, models, source)
    subscriber = Subscriber(mqtt_url, camera_status_topic(agent_id, "door"))
    try:
        with RunningAgent(config):
            subscriber.wait_for(1)
            camera.on.clear()
            subscriber.wait_for(2)
            camera.on.set()
            received = subscriber.wait_for(3)
    finally:
        subscriber.close()
    assert camera_states(received) == ["online", "offline", "online"]
    offline = parse_health(CameraStatusV1, received[1][1])
    assert offline.agent_id == agent_id and offline.camera_id == "door"
    assert offline.reason == f"snapshot GET {camera.url} returned HTTP 503"
    back = parse_health(CameraStatusV1, received[2][1])
    assert back.since > offline.since


def test_a_camera_that_never_answers_is_offline_after_the_delay():
    clock = [0.0]
    stats = CameraStats("cam", offline_after_s=5, clock=lambda: clock[0])
    assert stats.condition() is None  # starting: unknown, nothing to report
    stats.capture_failed("connection refused")
    clock[0] = 6.0
    condition = stats.condition()
    assert condition is not None
    assert (condition.state, condition.reason) == ("offline", "connection refused")


def test_a_finished_clip_is_not_reported_dark():
    clock = [0.0]
    stats = CameraStats("cam", offline_after_s=5, clock=lambda: clock[0])
    stats.capture_ended()
    clock[0] = 60.0
    assert stats.condition() is None


def test_cpu_temperature_prefers_the_cpu_zone(tmp_path):
    for index, (kind, millidegrees) in enumerate(
        [("acpitz", "27800"), ("cpu-thermal", "48312"), ("gpu-thermal", "51000")]
    ):
        zone = tmp_path / f"thermal_zone{index}"
        zone.mkdir()
        (zone / "type").write_text(kind + "\n")
        (zone / "temp").write_text(millidegrees + "\n")
    assert cpu_temperature(tmp_path) == pytest.approx(48.312)


def test_cpu_temperature_is_none_without_thermal_zones(tmp_path):
    assert cpu_temperature(tmp_path) is None
    zone = tmp_path / "thermal_zone0"
    zone.mkdir()
    (zone / "temp").write_text("not a number")
    assert cpu_temperature(tmp_path) is None
