"""Camera sources: each kind yields BGR frames with their UTC capture time."""

from __future__ import annotations

import threading

from edge_agent.config import (
    FileSourceConfig,
    FolderSourceConfig,
    HttpSnapshotSourceConfig,
    SourceConfig,
)
from edge_agent.sources.base import Backoff, Frame, Source
from edge_agent.sources.file import FileSource
from edge_agent.sources.folder import FolderSource
from edge_agent.sources.http_snapshot import HttpSnapshotSource

__all__ = ["Backoff", "Frame", "Source", "open_source"]


def open_source(
    config: SourceConfig,
    camera_id: str,
    stop: threading.Event | None = None,
    backoff: Backoff | None = None,
) -> Source:
    """The source for one camera's `source` config; `stop` ends it and interrupts its retries."""
    stop = stop or threading.Event()
    if isinstance(config, FileSourceConfig):
        return FileSource(config, camera_id, stop, backoff)
    if isinstance(config, FolderSourceConfig):
        return FolderSource(config, camera_id, stop, backoff)
    if isinstance(config, HttpSnapshotSourceConfig):
        return HttpSnapshotSource(config, camera_id, stop, backoff)
    raise TypeError(f"no source for config type {type(config).__name__}")
