"""Snapshots: size-limited JPEGs with boxes drawn, published before their event via the outbox."""

from __future__ import annotations

import threading
import uuid
from urllib.parse import urlsplit

import cv2
import numpy as np
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge_agent.config import SnapshotConfig, config_from_mapping
from edge_agent.detectors import Detection
from edge_agent.runner import run_agent
from edge_agent.snapshot import DrawnBox, fit_width, render_snapshot, snapshot_topic
from vigie_contract import parse_event

GUARD_S = 30  # against a hang only
BACKPACK = Detection(label="backpack", class_id=26, score=0.58, box=(0.34, 0.33, 0.53, 0.55))
PERSON = Detection(label="person", class_id=0, score=0.88, box=(0.28, 0.18, 0.57, 0.94))


def decode(jpeg: bytes) -> np.ndarray:
    """A JPEG's pixels (fails the test if the bytes are not a JPEG)."""
    image = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def test_snapshot_is_a_jpeg_with_the_threat_box_in_red(media):
    frame = cv2.imread(str(media / "backpackman.jpg"))
    boxes = [DrawnBox(PERSON, 1, False), DrawnBox(BACKPACK, 2, True)]

    jpeg = render_snapshot(frame, boxes, SnapshotConfig(max_width=400, quality=90))

    assert jpeg is not None and jpeg[:2] == b"\xff\xd8"
    image = decode(jpeg)
    assert image.shape[1] == 400
    height, width = image.shape[:2]
    # Around the middle of the backpack box's left edge: red (BGR), the edge of the threat.
    row, column = round(0.45 * height), round(0.34 * width)
    patch = image[row - 2 : row + 3, column - 2 : column + 3].astype(int)
    redness = patch[..., 2] - np.maximum(patch[..., 0], patch[..., 1])
    assert redness.max() > 100


def test_quality_and_size_shrink_to_fit_the_byte_limit(media):
    frame = cv2.imread(str(media / "kite_and_cold.jpg"))  # 1352x900, detailed
    roomy = render_snapshot(frame, [], SnapshotConfig(max_width=1352, quality=95))
    tight = render_snapshot(frame, [], SnapshotConfig(max_width=1352, quality=95, max_bytes=30_000))
    assert roomy is not None and tight is not None
    assert len(roomy) > 30_000 >= len(tight)
    assert decode(tight).shape[1] <= 1352


def test_an_impossible_limit_gives_no_snapshot():
    # A narrow, tall frame of noise: already at the smallest width, still too many bytes.
    noise = np.random.default_rng(7).integers(0, 256, (2000, 160, 3), dtype=np.uint8)
    assert render_snapshot(noise, [], SnapshotConfig(max_bytes=4096)) is None


def test_snapshot_topic_sits_under_the_agent_and_camera():
    event_id = uuid.UUID("12345678-1234-4234-8234-123456789abc")
    assert snapshot_topic("agent-1", "gate", event_id) == (
        "vigie/v1/agent-1/gate/snapshot/12345678-1234-4234-8234-123456789abc"
    )


@pytest.mark.mqtt
def test_the_agent_publishes_each_snapshot_before_its_event(mqtt_url, media, models, tmp_path):
    agent_id = f"agent-{uuid.uuid4().hex[:10]}"
    received: list[tuple[str, bytes]] = []
    subscribed = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sub-{agent_id}")
    # The camera's topics only: the agent also publishes its status and heartbeat.
    client.on_connect = lambda c, *args: c.subscribe(f"vigie/v1/{agent_id}/hall-1/#", qos=1)
    client.on_subscribe = lambda *args: subscribed.set()
    client.on_message = lambda c, u, message: received.append((message.topic, message.payload))
    parts = urlsplit(mqtt_url)
    client.connect(parts.hostname, parts.port)
    client.loop_start()
    assert subscribed.wait(GUARD_S)
    config = config_from_mapping(
        {
            "agent_id": agent_id,
            "mqtt": {"url": mqtt_url},
            "outbox_path": str(tmp_path / "outbox.sqlite3"),
            "detector": {"model": str(models / "mobilenet_ssd_v2_coco_quant_postprocess.tflite")},
            "cameras": [
                {
                    "id": "hall-1",
                    "source": {"type": "file", "path": str(media / "worker-zone-detection.gif")},
                    "interval_s": 0,
                    "position": {"lat": 43.6045, "lon": 1.4440},
                    "rules": [
                        {
                            "labels": ["person"],
                            "threat_type": "intrusion",
                            "severity": "high",
                            "confirm_frames": 3,
                            "cooldown_s": 3600,
                        }
                    ],
                    "snapshot": {"enabled": True, "max_width": 320, "max_bytes": 60_000},
                }
            ],
        },
        base_dir=tmp_path,
    )
    try:
        run_agent(config)
        deadline = threading.Event()
        for _ in range(GUARD_S * 10):
            if len(received) >= 2 or deadline.wait(0.1):
                break
    finally:
        client.disconnect()
        client.loop_stop()

    [(snapshot_topic_seen, jpeg), (event_topic_seen, payload)] = received
    event = parse_event(payload)
    assert event_topic_seen == f"vigie/v1/{agent_id}/hall-1/event"
    assert event.snapshot is not None
    assert (
        snapshot_topic_seen
        == event.snapshot.topic
        == snapshot_topic(agent_id, "hall-1", event.event_id)
    )
    assert (event.snapshot.content_type, event.snapshot.bytes) == ("image/jpeg", len(jpeg))
    assert decode(jpeg).shape[1] == 320


@pytest.mark.parametrize("max_width", [640, 400, 200])
def test_fit_width_keeps_the_aspect_ratio_and_the_scene(media, max_width):
    # 768 to 640 is a mild shrink (linear), to 400 and 200 a halving or more (area averaging).
    frame = cv2.VideoCapture(str(media / "vtest_first350.avi")).read()[1]
    fitted = fit_width(frame, max_width)
    assert fitted.shape == (round(576 * max_width / 768), max_width, 3)
    back = cv2.resize(fitted, (768, 576), interpolation=cv2.INTER_LINEAR)
    assert np.abs(back.astype(int) - frame).mean() < 12
    assert fit_width(fitted, max_width) is fitted
