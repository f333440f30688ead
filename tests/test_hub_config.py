"""Hub settings: defaults, YAML file under environment variables, errors that name the key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hub.config import HubSettings, SettingsError, load_settings
from tests.hubserver import subprocess_env
from vigie_contract import MAX_EVENT_BYTES


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run each test without the developer's own VIGIE_* variables."""
    for name in list(os.environ):
        if name.startswith("VIGIE_"):
            monkeypatch.delenv(name)


def test_defaults_give_the_zero_setup_hub() -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite:///./vigie.sqlite3"
    assert (settings.mqtt_host, settings.mqtt_port) == ("127.0.0.1", 1883)
    assert settings.mqtt_embedded is False
    assert settings.mqtt_client_id == "vigie-hub"
    assert (settings.http_host, settings.http_port) == ("127.0.0.1", 8000)
    assert settings.max_event_bytes == MAX_EVENT_BYTES
    assert settings.map_tile_url == "https://tile.openstreetmap.org/{z}/{x}/{y}.png"


def test_environment_wins_over_the_yaml_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text(
        "http_port: 9000\nmqtt_url: mqtt://broker.example:1884\nmqtt_embedded: true\n"
        "map_tile_url: ''\n"
    )
    monkeypatch.setenv("VIGIE_CONFIG", str(config))
    monkeypatch.setenv("VIGIE_HTTP_PORT", "9100")

    settings = load_settings()

    assert settings.http_port == 9100
    assert (settings.mqtt_host, settings.mqtt_port) == ("broker.example", 1884)
    assert settings.mqtt_embedded is True
    assert settings.map_tile_url == ""


def test_explicit_values_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIE_HTTP_PORT", "9100")
    assert load_settings(http_port=9200).http_port == 9200


def test_postgresql_url_is_accepted() -> None:
    url = "postgresql://vigie@db.example/vigie"
    assert HubSettings(database_url=url).database_url == url


@pytest.mark.parametrize(
    ("variable", "value", "key"),
    [
        ("VIGIE_HTTP_PORT", "eighty", "http_port"),
        ("VIGIE_HTTP_PORT", "70000", "http_port"),
        ("VIGIE_MQTT_URL", "http://127.0.0.1:1883", "mqtt_url"),
        ("VIGIE_MQTT_URL", "mqtt://127.0.0.1:99999", "mqtt_url"),
        ("VIGIE_MQTT_URL", "mqtt://user:secret@127.0.0.1:1883", "mqtt_url"),
        ("VIGIE_MQTT_EMBEDDED", "perhaps", "mqtt_embedded"),
        ("VIGIE_DATABASE_URL", "mysql://vigie@db/vigie", "database_url"),
        ("VIGIE_DATABASE_URL", "not a url", "database_url"),
        ("VIGIE_MAX_EVENT_BYTES", "0", "max_event_bytes"),
        ("VIGIE_MQTT_CLIENT_ID", "", "mqtt_client_id"),
    ],
)
def test_bad_environment_value_names_the_key(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, key: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=rf"\b{key}\b.*\b{variable}\b"):
        load_settings()


def test_unknown_yaml_key_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text("http_prot: 9000\n")
    monkeypatch.setenv("VIGIE_CONFIG", str(config))
    with pytest.raises(SettingsError, match="http_prot"):
        load_settings()


def test_missing_config_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIE_CONFIG", str(tmp_path / "absent.yaml"))
    with pytest.raises(SettingsError, match=r"VIGIE_CONFIG.*absent\.yaml"):
        load_settings()


@pytest.mark.parametrize("text", ["http_port: [9000\n", "- just\n- a list\n"])
def test_config_file_that_is_not_a_yaml_mapping_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text(text)
    monkeypatch.setenv("VIGIE_CONFIG", str(config))
    with pytest.raises(SettingsError, match="VIGIE_CONFIG"):
        load_settings()


def test_serve_with_a_bad_setting_prints_the_key_and_exits_2() -> None:
    hub = Path(sys.executable).with_name("vigie-hub")
    env = subprocess_env({"VIGIE_MQTT_URL": "amqp://127.0.0.1"})
    result = subprocess.run([hub, "serve"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "mqtt_url" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_with_a_bad_port_option_exits_2() -> None:
    hub = Path(sys.executable).with_name("vigie-hub")
    result = subprocess.run(
        [hub, "serve", "--port", "70000"],
        env=subprocess_env({}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "http_port" in result.stderr
