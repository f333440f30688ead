"""A camera that serves its current frame as a JPEG over HTTP (most IP cameras can)."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import httpx
import numpy as np

from edge_agent.config import HttpSnapshotSourceConfig
from edge_agent.sources.base import Frame, Source, redact_url
from edge_agent.sources.http_auth import http_auth


class HttpSnapshotSource(Source):
    """GETs one snapshot per frame requested (basic or digest auth); failures are retried."""

    config: HttpSnapshotSourceConfig

    def frames(self) -> Iterator[Frame]:
        """A fresh snapshot each time the next frame is asked for, until stopped."""
        auth = http_auth(self.config.username, self.config.password, self.config.auth)
        with httpx.Client(auth=auth, timeout=self.config.timeout_s) as client:
            while not self.stop.is_set():
                image, problem = self._fetch(client)
                if image is None:
                    if not self.retry_later(problem):
                        return
                    continue
                yield self.frame(image)

    def _fetch(self, client: httpx.Client) -> tuple[np.ndarray | None, str]:
        """The decoded snapshot, or None and why it could not be had."""
        url = redact_url(self.config.url)
        try:
            response = client.get(self.config.url)
        except httpx.HTTPError as exc:
            return None, f"snapshot GET {url} failed: {type(exc).__name__}: {exc}"
        if response.status_code != httpx.codes.OK:
            return None, f"snapshot GET {url} returned HTTP {response.status_code}"
        image = cv2.imdecode(np.frombuffer(response.content, dtype=np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            return None, (
                f"snapshot from {url} is not a decodable image "
                f"({len(response.content)} bytes, {response.headers.get('content-type', '?')})"
            )
        return image, ""
