"""Download a file from its public origin once, and accept it only if its sha256 matches."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

import httpx

log = logging.getLogger(__name__)


class ChecksumError(RuntimeError):
    """A file's sha256 is not the pinned one."""


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path, sha256: str) -> Path:
    """Return path if its content has the pinned sha256, else raise ChecksumError."""
    actual = sha256_of(path)
    if actual != sha256:
        raise ChecksumError(f"{path}: sha256 {actual}, expected {sha256}")
    return path


def download_verified(url: str, dest: Path, sha256: str, timeout_s: float = 60.0) -> Path:
    """Fetch url into dest unless a verified copy is there; never leave a bad or partial file."""
    if dest.exists():
        try:
            return verify(dest, sha256)
        except ChecksumError:
            log.warning("%s does not match its checksum: downloading it again", dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    log.info("downloading %s", url)
    fd, partial = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
    try:
        with (
            os.fdopen(fd, "wb") as out,
            httpx.stream("GET", url, follow_redirects=True, timeout=timeout_s) as response,
        ):
            response.raise_for_status()
            for chunk in response.iter_bytes():
                out.write(chunk)
        verify(Path(partial), sha256)
        # mkstemp makes it private (0600); the agent may run as another user (vigie) than root.
        os.chmod(partial, 0o644)
        os.replace(partial, dest)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return dest
