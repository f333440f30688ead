"""A camera that serves its current frame as a JPEG over HTTP (most IP cameras can)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import cv2
import httpx
import numpy as np

from edge_agent.config import HttpSnapshotSourceConfig
from edge_agent.sources.base import Backoff, Frame, Source
from vigie_contract.event import utc_now


class HttpSnapshotSource(Source):
    """GETs one snapshot per frame requested; HTTP and decoding failures are retried."""

    def __init__(
        self,
        config: HttpSnapshotSourceConfig,
        camera_id: str,
        stop: threading.Event,
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(camera_id, stop, backoff)
        self.config = config

    def frames(self) -> Iterator[Frame]:
        """A fresh snapshot each time the next frame is asked for, until stopped."""
        with httpx.Client(auth=self._auth(), timeout=self.config.timeout_s) as client:
            while not self.stop.is_set():
                image, problem = self._fetch(client)
                if image is None:
                    if not self.retry_later(problem):
                        return
                    continue
                self.backoff.reset()
                yield Frame(image=image, captured_at=utc_now())

    def _auth(self) -> httpx.BasicAuth | None:
        if self.config.username is None:
            return None
        password = self.config.password.get_secret_value() if self.config.password else ""
        return httpx.BasicAuth(self.config.username, password)

    def _fetch(self, client: httpx.Client) -> tuple[np.ndarray | None, str]:
        """The decoded snapshot, or None and why it could not be had."""
        url = self.config.url
        try:
            response = client.get(url)
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
