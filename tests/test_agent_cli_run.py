"""`vigie-agent run` as a process: bad detector settings and SIGTERM end it cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from edge_agent.outbox import Outbox
from tests.services import free_port


def write_config(tmp_path: Path, model: Path, media: Path, mqtt_url: str) -> Path:
    """A looping camera on the worker clip; no broker needs to answer."""
    config = {
        "agent_id": "cli-agent",
        "mqtt": {"url": mqtt_url},
        "outbox_path": str(tmp_path / "outbox.sqlite3"),
        "detector": {"model": str(model)},
        "cameras": [
            {
                "id": "cam-1",
                "source": {
                    "type": "file",
                    "path": str(media / "worker-zone-detection.gif"),
                    "loop": True,
                },
                "interval_s": 0,
                "position": {"lat": 48.85, "lon": 2.35},
                "rules": [
                    {
                        "labels": ["person"],
                        "threat_type": "intrusion",
                        "severity": "medium",
                        "confirm_frames": 2,
                        "cooldown_s": 0,
                    }
                ],
            }
        ],
    }
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_model_that_cannot_load_is_an_error_not_a_traceback(tmp_path, media):
    bogus = tmp_path / "model.tflite"
    bogus.write_bytes(b"not a flatbuffer")
    (tmp_path / "labels.txt").write_text("person\n")
    config = write_config(tmp_path, bogus, media, f"mqtt://127.0.0.1:{free_port()}")
    result = subprocess.run(
        [sys.executable, "-m", "edge_agent.cli", "run", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr


def test_sigterm_stops_the_agent_and_keeps_undelivered_events(tmp_path, media, models):
    # Nothing listens on this port: every confirmed event stays in the outbox.
    config = write_config(
        tmp_path,
        models / "mobilenet_ssd_v2_coco_quant_postprocess.tflite",
        media,
        f"mqtt://127.0.0.1:{free_port()}",
    )
    agent = subprocess.Popen(
        [sys.executable, "-m", "edge_agent.cli", "run", str(config)],
        stderr=subprocess.PIPE,
        text=True,
    )
    outbox_path = tmp_path / "outbox.sqlite3"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if outbox_path.exists():
            with Outbox(outbox_path) as outbox:
                if outbox.count() >= 2:
                    break
        time.sleep(0.2)
    agent.send_signal(signal.SIGTERM)
    _, stderr = agent.communicate(timeout=30)
    assert agent.returncode == 0, stderr[-2000:]
    with Outbox(outbox_path) as outbox:
        assert outbox.count() >= 2
    assert "Traceback" not in stderr
