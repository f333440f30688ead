"""The edge agent's settings: a YAML file, overridden by VIGIE_AGENT_* environment variables."""

from __future__ import annotations

from collections.abc import Callable
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
from edge_agent.face_model import FETCH_COMMAND, default_face_model
from vigie_contract.event import Identifier

# The URL scheme picks transport and TLS: MQTT over TCP, or over WebSocket for sites where only
# HTTP(S) leaves the network.
DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883, "ws": 80, "wss": 443}
TLS_SCHEMES = ("mqtts", "wss")
WEBSOCKET_SCHEMES = ("ws", "wss")
# Must satisfy EventV1.threat_type, so that every configured rule yields a valid event.
ThreatType = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
Severity = Literal["low", "medium", "high", "critical"]
# Image positions are normalised: (0, 0) is the frame's top-left corner, (1, 1) its bottom-right.
UnitCoordinate = Annotated[float, Field(ge=0.0, le=1.0)]
ImagePoint = tuple[UnitCoordinate, UnitCoordinate]
Polygon = Annotated[list[ImagePoint], Field(min_length=3, max_length=64)]
RuleKind = Literal["presence", "intrusion", "loitering", "abandoned"]
# Labels the COCO models confuse with each other; a rule naming the group matches them all.
DEFAULT_LABEL_GROUPS: dict[str, list[str]] = {
    "bag": ["backpack", "handbag", "suitcase"],
    "vehicle": ["car", "truck", "bus", "motorcycle"],
}


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the offending key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class MqttConfig(_Section):
    """How the agent reaches its broker."""

    url: str = Field(
        description="mqtt://host[:port], mqtts:// (TLS), ws://host[:port]/path, wss:// (WebSocket)"
    )
    client_id: str | None = Field(None, min_length=1, max_length=128)
    username: str | None = None
    password: SecretStr | None = None
    keepalive: Annotated[int, Field(ge=5, le=3600)] = 30
    # MQTT 5 reports a refused publish in its PUBACK; 3.1.1 is for brokers that lack 5 (amqtt).
    protocol: Literal["5", "3.1.1"] = "5"
    ca_file: Path | None = Field(None, description="PEM CA bundle (default: the system's)")
    cert_file: Path | None = Field(None, description="PEM client certificate, with key_file")
    key_file: Path | None = Field(None, description="PEM client private key, with cert_file")

    @field_validator("url")
    @classmethod
    def _valid_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS:
            raise ValueError(
                f"scheme must be one of: {', '.join(DEFAULT_PORTS)} (got {parts.scheme!r})"
            )
        if not parts.hostname:
            raise ValueError("must name a host, e.g. mqtt://broker.local:1883")
        try:
            parts.port  # noqa: B018 - urlsplit checks the port only when it is read
        except ValueError as exc:
            raise ValueError(f"bad port: {exc}") from None
        return url

    @model_validator(mode="after")
    def _tls_files(self) -> MqttConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (client certificate auth)")
        uses_files = self.ca_file or self.cert_file
        if uses_files and not self.tls:
            raise ValueError("ca_file, cert_file and key_file need a TLS url (mqtts:// or wss://)")
        for name in ("ca_file", "cert_file", "key_file"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"{name}: no such file {path}")
        return self

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
        """Whether the connection uses TLS (mqtts:// or wss://)."""
        return urlsplit(self.url).scheme in TLS_SCHEMES

    @property
    def transport(self) -> Literal["tcp", "websockets"]:
        """MQTT straight over TCP, or inside a WebSocket (ws://, wss://)."""
        return "websockets" if urlsplit(self.url).scheme in WEBSOCKET_SCHEMES else "tcp"

    @property
    def websocket_path(self) -> str:
        """The HTTP path of the broker's WebSocket endpoint (default /mqtt)."""
        return urlsplit(self.url).path or "/mqtt"


PixelSize = Annotated[int, Field(ge=16, le=7680)]


class _SourceSection(_Section):
    """What every camera source has: detection resolution, reconnect back-off, offline delay."""

    resolution: tuple[PixelSize, PixelSize] | None = Field(
        None, description="[width, height] the frames are resized to before detection"
    )
    reconnect_min_s: Annotated[float, Field(gt=0.0, le=600.0)] = 0.5
    reconnect_max_s: Annotated[float, Field(gt=0.0, le=3600.0)] = 30.0
    offline_after_s: Annotated[
        float, Field(gt=0.0, le=86_400.0, description="dark this long: camera status offline")
    ] = 60.0

    @model_validator(mode="after")
    def _backoff_order(self) -> _SourceSection:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be at least reconnect_min_s")
        return self


HttpAuth = Literal["basic", "digest"]


class FileSourceConfig(_SourceSection):
    """A video or animated image file (.mp4, .avi, .gif...) replayed as a camera."""

    type: Literal["file"]
    path: Path
    loop: bool = False
    realtime: bool = Field(False, description="pace frames at the clip's fps, like a live camera")


class FolderSourceConfig(_SourceSection):
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


class HttpSnapshotSourceConfig(_SourceSection):
    """A camera that serves its current frame as a JPEG over HTTP."""

    type: Literal["http_snapshot"]
    url: str = Field(pattern=r"^https?://", description="http(s) URL of the JPEG snapshot")
    username: str | None = None
    password: SecretStr | None = None
    auth: HttpAuth = "basic"
    timeout_s: Annotated[float, Field(gt=0.0, le=300.0)] = 5.0


class MjpegSourceConfig(_SourceSection):
    """A camera that streams JPEGs over HTTP (multipart/x-mixed-replace, "MJPEG")."""

    type: Literal["mjpeg"]
    url: str = Field(pattern=r"^https?://", description="http(s) URL of the MJPEG stream")
    username: str | None = None
    password: SecretStr | None = None
    auth: HttpAuth = "basic"
    timeout_s: Annotated[float, Field(gt=0.0, le=300.0)] = 10.0


class RtspSourceConfig(_SourceSection):
    """An RTSP (or RTSPS) stream, decoded by OpenCV's FFmpeg backend."""

    type: Literal["rtsp"]
    url: str = Field(pattern=r"^rtsps?://", description="rtsp:// or rtsps:// stream URL")
    username: str | None = Field(None, description="put into the URL; kept out of logs")
    password: SecretStr | None = None
    transport: Literal["tcp", "udp", "auto"] = Field(
        "tcp", description="tcp survives NAT and lossy links; auto lets FFmpeg try UDP first"
    )
    open_timeout_s: Annotated[float, Field(gt=0.0, le=300.0)] = 10.0
    read_timeout_s: Annotated[float, Field(gt=0.0, le=300.0)] = 10.0


class UsbSourceConfig(_SourceSection):
    """A USB (V4L2) camera plugged into the board."""

    type: Literal["usb"]
    device: int | Path = Field(description="/dev/videoN, a /dev/v4l/by-id/... link, or N")
    capture_size: tuple[PixelSize, PixelSize] | None = Field(
        None, description="[width, height] asked of the camera"
    )

    @field_validator("device")
    @classmethod
    def _device_path(cls, device: int | Path) -> int | Path:
        if isinstance(device, int) and device < 0:
            raise ValueError("a device number is 0 or more")
        if isinstance(device, Path) and not str(device).startswith("/dev/"):
            raise ValueError(f"must be a device under /dev/, e.g. /dev/video0 (got {device})")
        return device


SourceConfig = Annotated[
    FileSourceConfig
    | FolderSourceConfig
    | HttpSnapshotSourceConfig
    | MjpegSourceConfig
    | RtspSourceConfig
    | UsbSourceConfig,
    Field(discriminator="type"),
]
# The `type` values of SourceConfig, listed in error messages.
SOURCE_KINDS = ("file", "folder", "http_snapshot", "mjpeg", "rtsp", "usb")


class PositionConfig(_Section):
    """Where the camera stands (WGS84)."""

    lat: Annotated[float, Field(ge=-90.0, le=90.0)]
    lon: Annotated[float, Field(ge=-180.0, le=180.0)]
    accuracy_m: Annotated[float, Field(ge=0.0, le=100_000.0)] = 25.0
    # Where the camera looks (0 = north, clockwise) and how wide: calibrate checks points by them.
    heading_deg: Annotated[float, Field(ge=0.0, lt=360.0)] | None = None
    fov_deg: Annotated[float, Field(gt=0.0, le=360.0)] | None = None


class ActiveHoursConfig(_Section):
    """A daily time window (it may wrap past midnight, e.g. 19:00 to 07:00)."""

    start: time
    end: time
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {name!r} (use an IANA name, e.g. Europe/Paris)"
            ) from None
        return name


class RuleConfig(_Section):
    """Which tracked objects make a threat, and how it is reported.

    presence: a matching object anywhere (or inside `zones`); intrusion: inside `zones`;
    loitering: inside `zones` for `dwell_s`; abandoned: standing still for `unattended_s` with
    no `owner_labels` box within `owner_distance` of its ground point.
    """

    kind: RuleKind = "presence"
    labels: Annotated[
        list[Annotated[str, Field(min_length=1)]],
        Field(min_length=1, description="detector labels or label group names (e.g. bag)"),
    ]
    threat_type: ThreatType
    severity: Severity
    min_score: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5
    # 4, not 3: on the ground-truth clips it removes the SSD models' last false alarms (torsos
    # read as backpacks for 3 captures) and keeps every episode (docs/threat-quality.md).
    confirm_frames: Annotated[int, Field(ge=1, le=1000)] = 4
    cooldown_s: Annotated[float, Field(ge=0.0)] = 60.0
    perimeter_m: Annotated[float, Field(gt=0.0, le=10_000.0)] = 50.0
    zones: list[Identifier] = Field(default_factory=list, description="names of camera zones")
    active_hours: ActiveHoursConfig | None = None
    dwell_s: Annotated[float, Field(gt=0.0)] | None = None
    unattended_s: Annotated[float, Field(gt=0.0)] | None = None
    owner_labels: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)] = [
        "person"
    ]
    owner_distance: Annotated[
        float, Field(gt=0.0, le=2.0, description="normalised, object ground point to owner box")
    ] = 0.1

    @model_validator(mode="after")
    def _kind_settings(self) -> RuleConfig:
        if self.kind in ("intrusion", "loitering") and not self.zones:
            raise ValueError(f"kind {self.kind} needs zones")
        if (self.kind == "loitering") != (self.dwell_s is not None):
            raise ValueError("dwell_s is required for, and only for, kind loitering")
        if (self.kind == "abandoned") != (self.unattended_s is not None):
            raise ValueError("unattended_s is required for, and only for, kind abandoned")
        return self


class ZoneConfig(_Section):
    """An area of the image: inside any `include` polygon and outside every `exclude` one."""

    name: Identifier
    include: Annotated[list[Polygon], Field(min_length=1)]
    exclude: list[Polygon] = Field(default_factory=list)


class MotionConfig(_Section):
    """Frame differencing on a small grey copy; a static scene skips the detector."""

    enabled: bool = True
    width: Annotated[int, Field(ge=16, le=1920, description="downscaled width in pixels")] = 160
    pixel_threshold: Annotated[int, Field(ge=1, le=255, description="grey-level change")] = 25
    min_area_ratio: Annotated[float, Field(ge=0.0, le=1.0)] = 0.003
    check_interval_s: Annotated[
        float, Field(gt=0.0, description="run the detector at least this often on a static scene")
    ] = 10.0
    masks: list[Polygon] = Field(default_factory=list, description="areas to ignore")


class TrackingConfig(_Section):
    """The IoU tracker that follows objects from one detector run to the next."""

    iou_threshold: Annotated[float, Field(gt=0.0, le=1.0)] = 0.3
    max_missed: Annotated[int, Field(ge=0, le=1000, description="runs without a match")] = 5
    still_tolerance: Annotated[
        float, Field(gt=0.0, le=10.0, description="ground-point move (box heights) seen as still")
    ] = 0.25
    max_speed: Annotated[
        float,
        Field(
            ge=0.0,
            le=20.0,
            description="fastest ground-point move (box heights a second) the distance pass"
            " follows when boxes do not overlap; 0: IoU only",
        ),
    ] = 1.5
    max_size_change: Annotated[
        float,
        Field(ge=1.0, le=10.0, description="largest box-height ratio the distance pass follows"),
    ] = 1.5


class CalibrationPointConfig(_Section):
    """One image point and the GPS point it shows on the ground."""

    image: ImagePoint
    gps: tuple[
        Annotated[float, Field(ge=-90.0, le=90.0)], Annotated[float, Field(ge=-180.0, le=180.0)]
    ] = Field(description="[lat, lon]")


class CalibrationConfig(_Section):
    """Image ↔ ground correspondences of one camera, for a ground-plane homography."""

    points: Annotated[list[CalibrationPointConfig], Field(min_length=4, max_length=256)]
    min_accuracy_m: Annotated[float, Field(gt=0.0, le=1000.0)] = 1.0
    max_range_m: Annotated[
        float, Field(gt=0.0, le=10_000.0, description="farther ground points are not trusted")
    ] = 300.0

    @model_validator(mode="after")
    def _solvable(self) -> CalibrationConfig:
        # geo needs OpenCV; imported here so that the config module stays light for the hub.
        from edge_agent.geo import GeoError, check_calibration_points

        try:
            check_calibration_points(self.points)
        except GeoError as exc:
            raise ValueError(str(exc)) from None
        return self


class SnapshotConfig(_Section):
    """The JPEG of the confirming frame, boxes drawn, published before each event."""

    # On by default: dispatchers need to see what fired. Turn off on a metered link.
    enabled: bool = True
    max_width: Annotated[int, Field(ge=64, le=4096)] = 640
    quality: Annotated[int, Field(ge=10, le=100)] = 80
    max_bytes: Annotated[int, Field(ge=4096, le=10_000_000)] = 256_000


class PrivacyConfig(_Section):
    """What never leaves the agent: masked areas, and faces or bystanders in snapshots."""

    masks: list[Polygon] = Field(
        default_factory=list,
        description="areas blacked out on every frame before anything else sees it",
    )
    # On by default: a snapshot travels and is stored; the faces of passers-by need not be.
    blur_faces: bool = True
    blur_other_persons: bool = Field(
        False, description="also blur every person box but the one that triggered the threat"
    )
    face_min_score: Annotated[float, Field(ge=0.1, le=1.0)] = 0.5


class CameraConfig(_Section):
    """One camera: where its frames come from, where it is, what counts as a threat."""

    id: Identifier
    source: SourceConfig
    interval_s: Annotated[float, Field(ge=0.0, description="0: as fast as possible")] = 1.0
    position: PositionConfig
    rules: Annotated[list[RuleConfig], Field(min_length=1)]
    zones: list[ZoneConfig] = Field(default_factory=list)
    motion: MotionConfig = Field(default_factory=MotionConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    calibration: CalibrationConfig | None = None
    snapshot: SnapshotConfig = Field(default_factory=SnapshotConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)

    @model_validator(mode="after")
    def _rule_zones_exist(self) -> CameraConfig:
        names = [zone.name for zone in self.zones]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"duplicate zone name(s): {', '.join(duplicates)}")
        for index, rule in enumerate(self.rules):
            unknown = sorted(set(rule.zones) - set(names))
            if unknown:
                raise ValueError(
                    f"rules.{index}.zones: unknown zone(s) {', '.join(unknown)}; "
                    f"defined: {', '.join(names) or 'none'}"
                )
        return self


class OutboxConfig(_Section):
    """Bounds of the on-disk outbox; past them the oldest messages are dropped (and logged)."""

    max_messages: Annotated[int, Field(ge=10, le=10_000_000)] = 100_000
    max_bytes: Annotated[int, Field(ge=1_000_000, le=100_000_000_000)] = 500_000_000
    max_age_s: Annotated[
        float, Field(gt=0.0, description="older undelivered messages are dropped")
    ] = 7 * 86_400.0


class HeartbeatConfig(_Section):
    """The periodic health report, and how often camera states are checked."""

    interval_s: Annotated[float, Field(ge=1.0, le=3600.0)] = 30.0


class AgentConfig(BaseSettings):
    """Everything one edge agent needs; env VIGIE_AGENT_<KEY> (nested with __) overrides YAML."""

    model_config = SettingsConfigDict(
        env_prefix="VIGIE_AGENT_", env_nested_delimiter="__", extra="forbid", allow_inf_nan=False
    )

    agent_id: Identifier
    mqtt: MqttConfig
    outbox_path: Path = Path("./vigie-outbox.sqlite3")
    outbox: OutboxConfig = Field(default_factory=OutboxConfig)
    heartbeat: HeartbeatConfig = Field(default_factory=HeartbeatConfig)
    detector: DetectorConfig
    face_model: Path = Field(
        default_factory=default_face_model,
        description=f"BlazeFace model that blurs faces in snapshots ({FETCH_COMMAND} puts it "
        "in the default place, ~/.local/share/vigie/models)",
    )
    cameras: Annotated[list[CameraConfig], Field(min_length=1)]
    label_groups: dict[Identifier, list[Annotated[str, Field(min_length=1)]]] = Field(
        default_factory=lambda: dict(DEFAULT_LABEL_GROUPS),
        description="added to (or replacing) the default groups: bag, vehicle",
    )

    @field_validator("label_groups")
    @classmethod
    def _with_default_groups(cls, groups: dict[str, list[str]]) -> dict[str, list[str]]:
        return {**DEFAULT_LABEL_GROUPS, **groups}

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
    for key in ("outbox_path", "face_model"):
        if key in resolved:
            resolved[key] = anchored(resolved[key])
    mqtt = resolved.get("mqtt")
    if isinstance(mqtt, dict):
        resolved["mqtt"] = {
            key: anchored(value) if key in ("ca_file", "cert_file", "key_file") else value
            for key, value in mqtt.items()
        }
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
