"""The edge agent's settings: a YAML file, overridden by VIGIE_AGENT_* environment variables."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from edge_agent.detectors import DetectorConfig
from vigie_contract.event import Identifier

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
# Must satisfy EventV1.threat_type, so that every configured rule yields a valid event.
ThreatType = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
Severity = Literal["low", "medium", "high", "critical"]


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the offending key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class MqttConfig(_Section):
    """How the agent reaches its broker."""

    url: str = Field(description="mqtt://host[:port] or mqtts://host[:port] (TLS)")
    client_id: str | None = Field(None, min_length=1, max_length=128)
    username: str | None = None
    password: SecretStr | None = None
    keepalive: Annotated[int, Field(ge=5, le=3600)] = 30
    # MQTT 5 reports a refused publish in its PUBACK; 3.1.1 is for brokers that lack 5 (amqtt).
    protocol: Literal["5", "3.1.1"] = "5"

    @field_validator("url")
    @classmethod
    def _valid_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS:
            raise ValueError(f"scheme must be one of: mqtt, mqtts (got {parts.scheme!r})")
        if not parts.hostname:
            raise ValueError("must name a host, e.g. mqtt://broker.local:1883")
        try:
            parts.port  # noqa: B018 - urlsplit checks the port only when it is read
        except ValueError as exc:
            raise ValueError(f"bad port: {exc}") from None
        return url

    @property
    def host(self) -> str:
        """The broker's host name or address."""
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        """The broker's port (1883 for mqtt://, 8883 for mqtts:// unless given)."""
        parts = urlsplit(self.url)
        return parts.port or DEFAULT_PORTS[parts.scheme]

    @property
    def tls(self) -> bool:
        """Whether the connection uses TLS (mqtts://)."""
        return urlsplit(self.url).scheme == "mqtts"


class FileSourceConfig(_Section):
    """A video or animated image file (.mp4, .avi, .gif...) replayed as a camera."""

    type: Literal["file"]
    path: Path
    loop: bool = False
    realtime: bool = Field(False, description="pace frames at the clip's fps, like a live camera")


class FolderSourceConfig(_Section):
    """A folder of still images, read in name order."""

    type: Literal["folder"]
    path: Path
    pattern: str = Field("*.jpg", min_length=1, description="glob, relative to the folder")
    loop: bool = False

    @field_validator("pattern")
    @classmethod
    def _valid_glob(cls, pattern: str) -> str:
        try:
            # Globbing a folder that does not exist checks the pattern and finds nothing.
            next(Path("/nonexistent-vigie-folder").glob(pattern), None)
        except (ValueError, NotImplementedError) as exc:
            raise ValueError(f"not a relative glob pattern: {exc}") from None
        return pattern


class HttpSnapshotSourceConfig(_Section):
    """A camera that serves its current frame as a JPEG over HTTP."""

    type: Literal["http_snapshot"]
    url: str = Field(pattern=r"^https?://", description="http(s) URL of the JPEG snapshot")
    username: str | None = None
    password: SecretStr | None = None
    timeout_s: Annotated[float, Field(gt=0.0, le=300.0)] = 5.0


SourceConfig = Annotated[
    FileSourceConfig | FolderSourceConfig | HttpSnapshotSourceConfig, Field(discriminator="type")
]
# The `type` values of SourceConfig, listed in error messages.
SOURCE_KINDS = ("file", "folder", "http_snapshot")


class PositionConfig(_Section):
    """Where the camera stands (WGS84)."""

    lat: Annotated[float, Field(ge=-90.0, le=90.0)]
    lon: Annotated[float, Field(ge=-180.0, le=180.0)]
    accuracy_m: Annotated[float, Field(ge=0.0, le=100_000.0)] = 25.0


class RuleConfig(_Section):
    """Which detections make a threat, and how it is reported."""

    labels: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]
    threat_type: ThreatType
    severity: Severity
    min_score: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5
    confirm_frames: Annotated[int, Field(ge=1, le=1000)] = 3
    cooldown_s: Annotated[float, Field(ge=0.0)] = 60.0
    perimeter_m: Annotated[float, Field(gt=0.0, le=10_000.0)] = 50.0


class CameraConfig(_Section):
    """One camera: where its frames come from, where it is, what counts as a threat."""

    id: Identifier
    source: SourceConfig
    interval_s: Annotated[float, Field(ge=0.0, description="0: as fast as possible")] = 1.0
    position: PositionConfig
    rules: Annotated[list[RuleConfig], Field(min_length=1)]


class AgentConfig(BaseSettings):
    """Everything one edge agent needs; env VIGIE_AGENT_<KEY> (nested with __) overrides YAML."""

    model_config = SettingsConfigDict(
        env_prefix="VIGIE_AGENT_", env_nested_delimiter="__", extra="forbid", allow_inf_nan=False
    )

    agent_id: Identifier
    mqtt: MqttConfig
    outbox_path: Path = Path("./vigie-outbox.sqlite3")
    detector: DetectorConfig
    cameras: Annotated[list[CameraConfig], Field(min_length=1)]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment first, then the YAML values passed to the constructor."""
        return (env_settings, init_settings)

    @field_validator("cameras")
    @classmethod
    def _unique_camera_ids(cls, cameras: list[CameraConfig]) -> list[CameraConfig]:
        camera_ids = [camera.id for camera in cameras]
        duplicates = sorted({cid for cid in camera_ids if camera_ids.count(cid) > 1})
        if duplicates:
            raise ValueError(f"duplicate camera id(s): {', '.join(duplicates)}")
        return cameras

    @model_validator(mode="after")
    def _default_client_id(self) -> AgentConfig:
        if self.mqtt.client_id is None:
            self.mqtt = self.mqtt.model_copy(update={"client_id": self.agent_id})
        return self


def load_config(path: Path) -> AgentConfig:
    """Read an agent YAML file, apply env overrides and validate, raising ConfigError."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigError(
            f"{path}: the top level must be a mapping of keys, not {type(document).__name__}"
        )
    return config_from_mapping(document, base_dir=path.resolve().parent)


def config_from_mapping(document: dict[str, Any], base_dir: Path) -> AgentConfig:
    """Validate an already-parsed YAML mapping, resolving its relative paths against base_dir."""
    for key in document:
        # Underscore keys would reach pydantic-settings as its own init options (e.g. _env_prefix).
        if not isinstance(key, str) or key.startswith("_"):
            raise ConfigError(f"{key}: unknown key")
    try:
        return AgentConfig(**_resolve_paths(document, base_dir))
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    except SettingsError as exc:
        # e.g. VIGIE_AGENT_CAMERAS holding something that is not JSON
        raise ConfigError(f"environment override: {exc}") from None


def _resolve_paths(document: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """A copy of the YAML mapping whose relative file paths are anchored at base_dir."""

    def anchored(value: Any) -> Any:
        if not isinstance(value, str) or not value:
            return value
        path = Path(value).expanduser()
        return str(path if path.is_absolute() else base_dir / path)

    resolved = dict(document)
    if "outbox_path" in resolved:
        resolved["outbox_path"] = anchored(resolved["outbox_path"])
    detector = resolved.get("detector")
    if isinstance(detector, dict):
        resolved["detector"] = {
            key: anchored(value) if key in ("model", "labels") else value
            for key, value in detector.items()
        }
    cameras = resolved.get("cameras")
    if isinstance(cameras, list):
        resolved["cameras"] = [_resolve_camera_paths(camera, anchored) for camera in cameras]
    return resolved


def _resolve_camera_paths(camera: Any, anchored: Callable[[Any], Any]) -> Any:
    source = camera.get("source") if isinstance(camera, dict) else None
    if not isinstance(source, dict) or source.get("type") not in ("file", "folder"):
        return camera
    if "path" not in source:
        return camera
    return {**camera, "source": {**source, "path": anchored(source["path"])}}


def _describe(exc: ValidationError) -> str:
    """One line per problem, each starting with the dotted key path (e.g. cameras.0.source.type)."""
    return "; ".join(_describe_error(error) for error in exc.errors())


def _describe_error(error: Any) -> str:
    where = _key_path(error["loc"])
    kind = error["type"]
    allowed = ", ".join(SOURCE_KINDS)
    if kind == "union_tag_invalid":
        return f"{where}.type: {error['ctx']['tag']!r} is not allowed; allowed values: {allowed}"
    if kind == "union_tag_not_found":
        return f"{where}.type: missing; allowed values: {allowed}"
    if kind == "extra_forbidden":
        return f"{where}: unknown key"
    if kind == "missing":
        return f"{where}: required key is missing"
    if kind == "literal_error":
        return f"{where}: got {error['input']!r}; allowed values: {error['ctx']['expected']}"
    message = error["msg"].removeprefix("Value error, ")
    # Echo the bad value to help fixing it, unless it may be a secret.
    secret = "password" in where
    if isinstance(error.get("input"), (str, int, float)) and kind != "value_error" and not secret:
        message += f" (got {error['input']!r})"
    return f"{where or '(top level)'}: {message}"


def _key_path(loc: tuple[Any, ...]) -> str:
    """Dotted key path without the tags pydantic inserts after a discriminated union field."""
    parts: list[str] = []
    for index, part in enumerate(loc):
        if index > 0 and loc[index - 1] == "source" and part in SOURCE_KINDS:
            continue
        parts.append(str(part))
    return ".".join(parts)
