"""A camera that streams JPEGs over HTTP: multipart/x-mixed-replace, known as MJPEG."""

from __future__ import annotations

import re
from collections.abc import Iterator

import cv2
import httpx
import numpy as np

from edge_agent.config import MjpegSourceConfig
from edge_agent.sources.base import LiveSource, LiveStream, redact_url
from edge_agent.sources.http_auth import http_auth

# A part larger than this is not a camera frame: the stream is broken or not MJPEG.
MAX_PART_BYTES = 16 * 1024 * 1024
_HEADERS_END = re.compile(rb"\r?\n\r?\n")
_CONTENT_LENGTH = re.compile(rb"(?im)^content-length:\s*(\d+)\s*$")
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)


class MultipartError(ValueError):
    """The stream is not well-formed multipart."""


class MjpegSource(LiveSource):
    """Reads an MJPEG stream with httpx (basic or digest auth); reconnects with back-off."""

    config: MjpegSourceConfig

    def connect(self) -> tuple[LiveStream | None, str]:
        """GET the stream and check that it is multipart with a boundary."""
        url = redact_url(self.config.url)
        auth = http_auth(self.config.username, self.config.password, self.config.auth)
        client = httpx.Client(auth=auth, timeout=self.config.timeout_s)
        try:
            response = client.send(client.build_request("GET", self.config.url), stream=True)
        except httpx.HTTPError as exc:
            client.close()
            return None, f"MJPEG GET {url} failed: {type(exc).__name__}: {exc}"
        content_type = response.headers.get("content-type", "")
        boundary = _BOUNDARY.search(content_type)
        problem = ""
        if response.status_code != httpx.codes.OK:
            problem = f"MJPEG GET {url} returned HTTP {response.status_code}"
        elif not content_type.lower().startswith("multipart/") or boundary is None:
            problem = f"{url} is not an MJPEG stream (content-type {content_type or '?'})"
        if problem:
            response.close()
            client.close()
            return None, problem
        return MjpegStream(client, response, boundary.group(1).encode(), url), ""


class MjpegStream(LiveStream):
    """One open MJPEG response: parts are received as bytes, decoded only when asked."""

    def __init__(
        self, client: httpx.Client, response: httpx.Response, boundary: bytes, url: str
    ) -> None:
        self._client = client
        self._response = response
        self._url = url
        self._parts = multipart_parts(response.iter_bytes(), boundary)
        self._jpeg = b""

    def receive(self) -> str | None:
        """Read the next part of the stream."""
        try:
            self._jpeg = next(self._parts)
        except StopIteration:
            return f"MJPEG stream {self._url} ended"
        except httpx.HTTPError as exc:
            return f"MJPEG stream {self._url} broke: {type(exc).__name__}: {exc}"
        except MultipartError as exc:
            return f"MJPEG stream {self._url}: {exc}"
        return None

    def decode(self) -> np.ndarray | None:
        """The last part as BGR pixels (None if it is not a readable image)."""
        return cv2.imdecode(np.frombuffer(self._jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)

    def close(self) -> None:
        """Close the response and its client."""
        self._response.close()
        self._client.close()


def multipart_parts(
    chunks: Iterator[bytes], boundary: bytes, max_part_bytes: int = MAX_PART_BYTES
) -> Iterator[bytes]:
    """The part bodies of a multipart stream, in order, read from chunks of any size.

    Uses Content-Length when a part has one, else the next boundary. Tolerates boundaries
    declared with or without their leading "--" (cameras disagree) and bare LF line ends.
    """
    marker = b"--" + boundary.removeprefix(b"--")
    # Inside the stream a delimiter starts a line: searching for that avoids matches in JPEG data.
    line_marker = b"\n" + marker
    buffer = bytearray()
    chunks = iter(chunks)

    def more() -> bool:
        chunk = next(chunks, None)
        if chunk is None:
            return False
        buffer.extend(chunk)
        if len(buffer) > max_part_bytes + 64 * 1024:
            raise MultipartError(f"no part boundary within {max_part_bytes} bytes")
        return True

    while True:
        start = buffer.find(marker)
        while start < 0:
            # Keep a tail that may hold the start of a split marker.
            del buffer[: max(len(buffer) - len(marker), 0)]
            if not more():
                return
            start = buffer.find(marker)
        del buffer[: start + len(marker)]
        while len(buffer) < 2 and more():
            pass
        if buffer[:2] == b"--":  # the closing delimiter
            return
        headers_end = _HEADERS_END.search(buffer)
        while headers_end is None:
            if not more():
                return
            headers_end = _HEADERS_END.search(buffer)
        length = _CONTENT_LENGTH.search(bytes(buffer[: headers_end.start()]))
        body_start = headers_end.end()
        if length is not None:
            size = int(length.group(1))
            if size > max_part_bytes:
                raise MultipartError(f"part of {size} bytes exceeds {max_part_bytes}")
            while len(buffer) < body_start + size:
                if not more():
                    return
            yield bytes(buffer[body_start : body_start + size])
            del buffer[: body_start + size]
            continue
        end = buffer.find(line_marker, body_start)
        while end < 0:
            if not more():
                return
            end = buffer.find(line_marker, body_start)
        yield bytes(buffer[body_start:end]).removesuffix(b"\r")
        del buffer[: end + 1]
