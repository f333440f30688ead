"""The JSON Schema files of every wire message, generated from the pydantic models."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from vigie_contract.event import EventV1, json_schema
from vigie_contract.health import AgentStatusV1, CameraStatusV1, HeartbeatV1

SCHEMA_DIR = Path(__file__).parent
SCHEMA_FILES: dict[str, type[BaseModel]] = {
    "event-v1.schema.json": EventV1,
    "status-v1.schema.json": AgentStatusV1,
    "camera-status-v1.schema.json": CameraStatusV1,
    "heartbeat-v1.schema.json": HeartbeatV1,
}


def render(model: type[BaseModel]) -> str:
    """The schema file's text for a model."""
    return json.dumps(json_schema(model), indent=2, sort_keys=True) + "\n"


def write_all() -> list[Path]:
    """Regenerate every schema file; return their paths."""
    paths = []
    for name, model in SCHEMA_FILES.items():
        path = SCHEMA_DIR / name
        path.write_text(render(model))
        paths.append(path)
    return paths
