"""deploy/hub/ is consistent: the compose file validates, its hub settings are valid hub settings,
only the proxy and the agents' TLS listener are published, the proxy config and the systemd
units name real files and real vigie-hub commands. (The broker config runs in test_add_agent.)"""

from __future__ import annotations

import configparser
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from hub.cli import build_parser
from hub.config import HubSettings

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy" / "hub"
COMPOSE = DEPLOY / "compose.yaml"
# What the compose file needs from deploy/hub/.env, with test values.
COMPOSE_ENV = {
    "VIGIE_DOMAIN": "vigie.city.example",
    "VIGIE_DB_PASSWORD": "s3cret",
    "VIGIE_VERSION": "1.0",
}
PUBLIC_PORTS = {"80", "443", "8883"}
# Made on the machine at setup (docs/operations.md), never committed.
GENERATED_AT_SETUP = {"./certs", "./backups"}
GUARD_S = 60


def compose_command() -> list[str] | None:
    """`docker compose` when the plugin works, else `docker-compose`, else None."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's ${NAME}, ${NAME:-default} and ${NAME:?error} substitution."""

    def value(match: re.Match) -> str:
        name, operator, argument = match.group(1), match.group(2), match.group(3)
        if name in env:
            return env[name]
        if operator == ":-":
            return argument
        raise AssertionError(f"{name} is required: {argument}")

    return re.sub(r"\$\{([A-Z0-9_]+)(?:(:-|:\?)([^}]*))?\}", value, text)


def compose_document() -> dict:
    """compose.yaml as compose reads it, with the test's .env values."""
    return yaml.safe_load(interpolate(COMPOSE.read_text(), COMPOSE_ENV))


def test_compose_file_validates(tmp_path: Path) -> None:
    command = compose_command()
    if command is None:
        pytest.skip("no compose client here; test_compose_services_fit_together checks the file")
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{key}={value}\n" for key, value in COMPOSE_ENV.items()))
    result = subprocess.run(
        [*command, "--env-file", str(env_file), "-f", str(COMPOSE), "config"],
        capture_output=True,
        text=True,
        timeout=GUARD_S,
        env={key: value for key, value in os.environ.items() if not key.startswith("VIGIE_")},
    )
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    assert {"postgis", "mosquitto", "migrate", "hub", "caddy"} <= set(resolved["services"])


def test_compose_refuses_to_start_without_a_database_password() -> None:
    text = COMPOSE.read_text()
    with pytest.raises(AssertionError, match="VIGIE_DB_PASSWORD is required"):
        interpolate(text, {key: v for key, v in COMPOSE_ENV.items() if key != "VIGIE_DB_PASSWORD"})


def test_compose_services_fit_together() -> None:
    services = compose_document()["services"]
    assert {"postgis", "mosquitto", "migrate", "hub", "caddy"} <= set(services)
    published = {
        str(port).split(":")[0]
        for service in services.values()
        for port in service.get("ports", [])
    }
    # The database, the hub and the broker's anonymous hub listener stay on the private network.
    assert published == PUBLIC_PORTS
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./") and source not in GENERATED_AT_SETUP:
                assert (DEPLOY / source).exists(), f"{name} mounts a missing {source}"
    assert services["hub"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"] == ["vigie-hub", "migrate"]


def test_compose_hub_environment_is_valid_hub_settings(tmp_path: Path) -> None:
    environment = compose_document()["services"]["hub"]["environment"]
    prefix = "VIGIE_"
    fields = {key.removeprefix(prefix).lower(): value for key, value in environment.items()}
    assert set(fields) <= set(HubSettings.model_fields), sorted(
        set(fields) - HubSettings.model_fields.keys()
    )
    settings = HubSettings(**fields)
    assert settings.database_url.startswith("postgresql+psycopg://vigie:s3cret@postgis:5432/")
    assert settings.mqtt_host == "mosquitto"
    assert settings.mqtt_shared_group == "vigie-hub"
    assert settings.agent_mqtt_url == "mqtts://vigie.city.example:8883"


def test_database_password_is_the_same_for_postgis_and_the_hub() -> None:
    services = compose_document()["services"]
    password = services["postgis"]["environment"]["POSTGRES_PASSWORD"]
    assert f"vigie:{password}@postgis" in services["hub"]["environment"]["VIGIE_DATABASE_URL"]


def test_caddyfile_proxies_the_hub_with_websockets(tmp_path: Path) -> None:
    caddyfile = DEPLOY / "Caddyfile"
    assert re.search(r"reverse_proxy hub:8000", caddyfile.read_text())
    if not shutil.which("caddy"):
        pytest.skip("caddy is not installed here")
    result = subprocess.run(
        ["caddy", "validate", "--config", str(caddyfile), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        timeout=GUARD_S,
        env={**os.environ, "VIGIE_DOMAIN": "vigie.city.example", "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr[-2000:]


def unit(path: Path) -> configparser.ConfigParser:
    """A systemd unit file read as INI (systemd allows repeated keys: the last one is kept)."""
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read_string(path.read_text())
    return parser


@pytest.mark.parametrize("name", ["vigie-hub@.service", "vigie-hub-migrate.service"])
def test_systemd_units_run_real_vigie_hub_commands(name: str) -> None:
    service = unit(DEPLOY / "systemd" / name)["Service"]
    command = shlex.split(service["ExecStart"])
    assert command[0] == "/opt/vigie/venv/bin/vigie-hub"
    build_parser().parse_args(command[1:])
    assert service["User"] == "vigie"
    assert service["EnvironmentFile"] == "/etc/vigie/hub.env"


def test_replicas_wait_for_migrations_and_keep_their_own_session() -> None:
    replica = unit(DEPLOY / "systemd" / "vigie-hub@.service")
    assert "vigie-hub-migrate.service" in replica["Unit"]["Requires"]
    assert "vigie-hub-migrate.service" in replica["Unit"]["After"]
    assert "VIGIE_MQTT_CLIENT_ID=vigie-hub-%H-%i" in replica["Service"]["Environment"]


def test_systemd_environment_example_is_valid_hub_settings(monkeypatch) -> None:
    for line in (DEPLOY / "systemd" / "hub.env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            monkeypatch.setenv(key, value)
    settings = HubSettings()
    assert settings.mqtt_shared_group == "vigie-hub"
    assert settings.auth_trust_forwarded_headers is True


def test_containerfile_copies_what_exists_and_runs_the_hub() -> None:
    text = (DEPLOY / "Containerfile").read_text()
    for sources in re.findall(r"^COPY (.+) \S+$", text, re.M):
        for source in sources.split():
            assert (REPO / source).exists(), source
    command = re.search(r"^CMD (\[.*\])$", text, re.M).group(1)
    arguments = yaml.safe_load(command)
    assert arguments[0] == "vigie-hub"
    build_parser().parse_args(arguments[1:])
