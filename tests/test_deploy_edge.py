"""deploy/edge checked statically (no container engine or systemd runs here): the example
config passes check-config, the unit verifies and is hardened, the scripts parse, the image
builds for arm64 too."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from edge_agent.cli import main
from edge_agent.config import load_config

DEPLOY = Path(__file__).resolve().parents[1] / "deploy" / "edge"


def test_the_annotated_example_config_passes_check_config(capsys):
    assert main(["check-config", str(DEPLOY / "agent.example.yaml")]) == 0
    assert capsys.readouterr().out.startswith("ok: agent pi-market-square, 4 camera(s)")


def test_the_example_shows_every_live_camera_kind():
    config = load_config(DEPLOY / "agent.example.yaml")
    assert {camera.source.type for camera in config.cameras} == {
        "rtsp",
        "http_snapshot",
        "mjpeg",
        "usb",
    }
    assert config.outbox_path == Path("/var/lib/vigie/outbox.sqlite3")
    assert config.mqtt.tls


def test_a_bad_config_is_refused_naming_the_key(tmp_path, capsys):
    text = (DEPLOY / "agent.example.yaml").read_text().replace("transport: tcp", "transport: quic")
    bad = tmp_path / "agent.yaml"
    bad.write_text(text)
    assert main(["check-config", str(bad)]) == 2
    error = capsys.readouterr().err
    assert "cameras.0.source.transport" in error and "'tcp', 'udp' or 'auto'" in error
    # `run` refuses it the same way, before starting anything.
    assert main(["run", str(bad)]) == 2


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read(DEPLOY / "vigie-agent.service")
    return parser


def test_the_unit_restarts_on_failure_as_an_unprivileged_hardened_user():
    service = unit()["Service"]
    assert service["User"] == "vigie" and service["Restart"] == "on-failure"
    assert service["ExecStart"] == "/opt/vigie/venv/bin/vigie-agent run /etc/vigie/agent.yaml"
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "ReadWritePaths": "/var/lib/vigie",
        "CapabilityBoundingSet": "",
    }.items():
        assert service[key] == value, key
    assert unit()["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_the_unit_verifies(tmp_path):
    # The agent is not installed here: point the unit at a binary that exists.
    text = (DEPLOY / "vigie-agent.service").read_text()
    copy = tmp_path / "vigie-agent.service"
    copy.write_text(text.replace("/opt/vigie/venv/bin/vigie-agent", "/usr/bin/true"))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr


def test_the_install_script_parses_and_installs_what_the_unit_expects():
    script = DEPLOY / "install.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text
    assert '"$PREFIX/src[edge]"' in text and "PREFIX=/opt/vigie" in text
    assert "useradd --system" in text and "$CONFIG_DIR/agent.yaml" in text
    assert "vigie-agent.service" in text


def test_the_container_recipe_is_multi_arch_and_unprivileged():
    lines = [
        line.strip()
        for line in (DEPLOY / "Containerfile").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    base = next(line for line in lines if line.startswith("FROM "))
    # A multi-architecture official image, not pinned to one platform.
    assert re.fullmatch(r"FROM docker\.io/library/python:3\.1[1-3]-slim-\w+", base)
    assert not any("--platform" in line for line in lines)
    assert "USER vigie" in lines
    assert any('pip install --no-cache-dir "/opt/vigie/src[edge]"' in line for line in lines)
    assert lines[-2:] == ['ENTRYPOINT ["vigie-agent"]', 'CMD ["run", "/etc/vigie/agent.yaml"]']
    for copied in re.findall(r"^COPY (\S+)", "\n".join(lines), re.MULTILINE):
        assert (DEPLOY.parents[1] / copied).exists(), copied
