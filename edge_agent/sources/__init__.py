"""Camera sources: each kind yields BGR frames with their UTC capture time."""

from __future__ import annotations

import threading

from edge_agent.config import (
    FileSourceConfig,
    FolderSourceConfig,
    HttpSnapshotSourceConfig,
    MjpegSourceConfig,
    RtspSourceConfig,
    SourceConfig,
    UsbSourceConfig,
)
from edge_agent.sources.base import Backoff, CaptureObserver, Frame, Source
from edge_agent.sources.file import FileSource
from edge_agent.sources.folder import FolderSource
from edge_agent.sources.http_snapshot import HttpSnapshotSource
from edge_agent.sources.mjpeg import MjpegSource
from edge_agent.sources.rtsp import RtspSource
from edge_agent.sources.usb import UsbSource

__all__ = ["Backoff", "CaptureObserver", "Frame", "Source", "open_source"]

SOURCE_CLASSES: dict[type, type[Source]] = {
    FileSourceConfig: FileSource,
    FolderSourceConfig: FolderSource,
    HttpSnapshotSourceConfig: HttpSnapshotSource,
    MjpegSourceConfig: MjpegSource,
    RtspSourceConfig: RtspSource,
    UsbSourceConfig: UsbSource,
}


def open_source(
    config: SourceConfig,
    camera_id: str,
    stop: threading.Event | None = None,
    backoff: Backoff | None = None,
    observer: CaptureObserver | None = None,
) -> Source:
    """The source for one camera's `source` config; `stop` ends it and interrupts its retries.

    `observer` (the camera's health figures) hears of every frame and every failure.
    """
    source_class = SOURCE_CLASSES.get(type(config))
    if source_class is None:
        raise TypeError(f"no source for config type {type(config).__name__}")
    return source_class(config, camera_id, stop or threading.Event(), backoff, observer)
