"""Incident changes as messages of the hub's WebSocket stream."""

from __future__ import annotations

from hub.incidents.schemas import IncidentOut
from hub.stream.broadcaster import StreamMessage


def encode_incident(incident: IncidentOut) -> StreamMessage:
    """The WebSocket message {"type": "incident", "data": Incident} for one incident change."""
    return StreamMessage(None, '{"type":"incident","data":' + incident.model_dump_json() + "}")
