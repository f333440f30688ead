"""The hub's settings: VIGIE_* environment variables over an optional YAML file (VIGIE_CONFIG)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)
from pydantic_settings import SettingsError as EnvironmentParseError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from hub.incidents.grouping import DEFAULT_GROUP_RADIUS_M, DEFAULT_GROUP_WINDOW_S
from hub.ingest.frigate import FrigateSettings
from vigie_contract import MAX_EVENT_BYTES

ENV_PREFIX = "VIGIE_"
CONFIG_FILE_ENV = "VIGIE_CONFIG"
DEFAULT_MQTT_PORT = 1883


class SettingsError(ValueError):
    """Settings that cannot start the hub; the message names the offending key."""


class HubSettings(BaseSettings):
    """Everything the hub needs to run, validated once at start-up."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    database_url: str = "sqlite:///./vigie.sqlite3"
    mqtt_url: str = f"mqtt://127.0.0.1:{DEFAULT_MQTT_PORT}"
    mqtt_embedded: bool = False
    mqtt_client_id: str = Field("vigie-hub", min_length=1, max_length=128)
    # The hub's account when the broker refuses anonymous clients (mqtt_password needs it).
    mqtt_username: str | None = Field(None, min_length=1, max_length=128)
    mqtt_password: SecretStr | None = None
    http_host: str = "127.0.0.1"
    http_port: int = Field(8000, ge=1, le=65535)
    # Per-message deflate on /ws/events. Off: an event is about 600 bytes, and deflating it once
    # per client costs the hub more CPU than it saves on a dispatch centre's network.
    http_ws_compression: bool = False
    max_event_bytes: int = Field(MAX_EVENT_BYTES, ge=1024, le=16 * 1024 * 1024)
    # Replicas sharing this group split the ingest ($share/<group>/..., MQTT v5); unset: no sharing.
    mqtt_shared_group: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    # How long the broker keeps the hub's session (and its queued messages) while it is away.
    mqtt_session_expiry_s: int = Field(7 * 24 * 3600, ge=60, le=0xFFFFFFFE)
    # Micro-batching: messages stored in one transaction, and how long to wait to fill a batch.
    ingest_batch_max: int = Field(500, ge=1, le=10_000)
    ingest_batch_wait_ms: float = Field(2.0, ge=0.0, le=1000.0)
    # An event captured further ahead of its arrival is refused (time_out_of_range); one older
    # than retention_events_days is refused too.
    ingest_max_ahead_s: float = Field(24 * 3600, gt=0.0, le=30 * 24 * 3600)
    map_tile_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    map_tile_attribution: str = "&copy; OpenStreetMap contributors"
    # Auth: browser sessions last this long, then the user logs in again.
    auth_session_lifetime_s: int = Field(12 * 3600, ge=60, le=30 * 24 * 3600)
    # Failed logins per (username, client address) within the window before refusing attempts.
    auth_login_max_failures: int = Field(5, ge=1, le=1000)
    auth_login_window_s: int = Field(300, ge=1, le=24 * 3600)
    # Only behind a reverse proxy that sets them: X-Forwarded-Proto/-For/-Host are believed.
    auth_trust_forwarded_headers: bool = False
    # Incidents: a sighting joins an open incident of its type seen within the window, from the
    # same camera or (detections) within the radius; else it opens a new one.
    incident_group_window_s: float = Field(DEFAULT_GROUP_WINDOW_S, gt=0.0, le=7 * 24 * 3600)
    incident_group_radius_m: float = Field(DEFAULT_GROUP_RADIUS_M, ge=0.0, le=100_000.0)
    # Health: an agent unheard for this long is offline; the sweep looking for them runs this often.
    agent_stale_after_s: float = Field(60.0, gt=0.0, le=24 * 3600)
    # The admin panel flags a camera dark for longer than this: a short outage is a glitch, a long
    # one may be sabotage.
    admin_camera_offline_alert_s: float = Field(300.0, gt=0.0, le=7 * 24 * 3600)
    health_sweep_interval_s: float = Field(10.0, gt=0.0, le=3600)
    # Retention (days since arrival), after CNIL guidance for video surveillance: images at most
    # 30 days unless an investigation needs them (legal hold); see docs/privacy.md.
    retention_snapshots_days: float = Field(30.0, gt=0.0, le=3650.0)
    retention_events_days: float = Field(90.0, gt=0.0, le=3650.0)
    retention_dead_letters_days: float = Field(30.0, gt=0.0, le=3650.0)
    retention_purge_interval_s: float = Field(3600.0, gt=0.0, le=7 * 24 * 3600)
    # vigie-hub add-agent: the broker's password and ACL files, and the URL agents are given.
    mqtt_password_file: Path | None = None
    mqtt_acl_file: Path | None = None
    agent_mqtt_url: str = Field("mqtts://localhost:8883", pattern=r"^(mqtts?|wss?)://[^/\s]+")
    # Optional per site: ingest an existing Frigate NVR's events (docs/operations.md, Frigate).
    frigate: FrigateSettings = FrigateSettings()

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, url: str) -> str:
        try:
            backend = make_url(url).get_backend_name()
        except ArgumentError as exc:
            raise ValueError(f"not a database URL: {exc}") from None
        if backend not in ("sqlite", "postgresql"):
            raise ValueError(f"backend {backend!r} is not supported (use sqlite or postgresql)")
        return url

    @field_validator("mqtt_url")
    @classmethod
    def _plain_mqtt_endpoint(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme != "mqtt" or not parts.hostname:
            raise ValueError("must look like mqtt://host:port")
        if parts.username or parts.path not in ("", "/") or parts.query:
            raise ValueError("must be exactly mqtt://host:port (no credentials, path or query)")
        try:
            parts.port  # noqa: B018 - urlsplit validates the port only when it is read
        except ValueError as exc:
            raise ValueError(f"bad port: {exc}") from None
        return url

    @model_validator(mode="after")
    def _password_needs_username(self) -> HubSettings:
        if self.mqtt_password is not None and self.mqtt_username is None:
            raise ValueError("mqtt_password is set without mqtt_username: set both or neither")
        return self

    @model_validator(mode="after")
    def _shared_group_needs_mqtt_v5(self) -> HubSettings:
        if self.mqtt_embedded and self.mqtt_shared_group:
            raise ValueError(
                "mqtt_shared_group needs an MQTT v5 broker; the embedded broker (mqtt_embedded) "
                "speaks only MQTT 3.1.1: unset one of them"
            )
        return self

    @property
    def mqtt_host(self) -> str:
        """The broker's host name from mqtt_url."""
        return urlsplit(self.mqtt_url).hostname or ""

    @property
    def mqtt_port(self) -> int:
        """The broker's TCP port from mqtt_url (1883 when absent)."""
        return urlsplit(self.mqtt_url).port or DEFAULT_MQTT_PORT

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Explicit arguments, then the environment, then the YAML file named by VIGIE_CONFIG."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(CONFIG_FILE_ENV)
        if config_file:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=Path(config_file)))
        return tuple(sources)


def load_settings(**overrides: object) -> HubSettings:
    """Settings from overrides, the environment and VIGIE_CONFIG; SettingsError if invalid."""
    config_file = os.environ.get(CONFIG_FILE_ENV)
    if config_file and not Path(config_file).is_file():
        raise SettingsError(f"{CONFIG_FILE_ENV}: no such file {config_file}")
    if config_file:
        _check_is_mapping_of_names(Path(config_file))
    try:
        return HubSettings(**overrides)
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None
    except EnvironmentParseError as exc:
        # A VIGIE_* variable of a nested section (e.g. VIGIE_FRIGATE) that is not JSON.
        raise SettingsError(f"environment: {exc}") from None
    except (yaml.YAMLError, ValueError, TypeError) as exc:
        # A YAML file that does not parse, or whose top level is not a mapping.
        raise SettingsError(
            f"{CONFIG_FILE_ENV}: {config_file} is not a YAML mapping: {exc}"
        ) from None


def _check_is_mapping_of_names(config_file: Path) -> None:
    # pydantic-settings fails with AttributeError on a key such as `null:` or `1:`.
    try:
        document = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SettingsError(f"{CONFIG_FILE_ENV}: cannot read {config_file}: {exc}") from None
    if document is None:
        return
    if not isinstance(document, dict):
        # pydantic-settings would turn a list of pairs into a mapping.
        raise SettingsError(f"{CONFIG_FILE_ENV}: {config_file} is not a YAML mapping")
    for key in document:
        if not isinstance(key, str):
            raise SettingsError(f"{CONFIG_FILE_ENV}: {config_file}: key {key!r} is not a name")


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"])
        # A rule across several keys has no location of its own: its message names the keys.
        where = f"{key} (env {ENV_PREFIX}{key.upper()}): " if key else ""
        lines.append(f"{where}{error['msg']}")
    return "invalid settings: " + "; ".join(lines)
