"""The demo's model and footage: a local assets folder, else fetched once and verified."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from edge_agent.detectors.catalog import find_entry
from edge_agent.fetch import ChecksumError, download_verified, verify

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Asset:
    """A file the demo needs: its place in an assets folder, and where to fetch it otherwise."""

    relative: str
    sha256: str
    url: str
    # Some local copies are cut from their public original, which has its own checksum.
    origin_sha256: str | None = None
    origin_name: str | None = None


def demo_assets() -> dict[str, Asset]:
    """The default detector (from the model catalog) and the three clips the demo cameras replay."""
    model = find_entry("mobilenet_ssd_v2_coco_quant_postprocess.tflite")
    if model is None:
        raise RuntimeError("the default model is missing from the detector catalog")
    return {
        "model": Asset(f"models/{model.file_name}", model.sha256, model.model_url),
        "labels": Asset(f"models/{model.label_file}", model.label_sha256, model.label_url),
        **CLIPS,
    }


CLIPS: dict[str, Asset] = {
    "worker": Asset(
        "media/worker-zone-detection.gif",
        "258a1df000dfdb488f2992ecc02ed262e7ecf03f638c3f5d1736b26718783447",
        "https://raw.githubusercontent.com/intel-iot-devkit/sample-videos/"
        "57978890822836f2b4743852f04f62fc511757e4/preview/worker-zone-detection.gif",
    ),
    "traffic": Asset(
        "media/traffic_frames.mp4",
        "a94ef9529efbfbff681adb1f852c9e932eacecd7fa0b01105660d6994054314d",
        "https://raw.githubusercontent.com/google/automl-video-ondevice/"
        "53b3b411240e5eeb47dee3e2197eb592dbfaf57d/data/traffic_frames.mp4",
    ),
    "street": Asset(
        "media/vtest_first350.avi",
        "acf1a81348584f955fc596073bb9ef396dae587a2a72cd1844e5c666ec620e10",
        "https://raw.githubusercontent.com/opencv/opencv/4.x/samples/data/vtest.avi",
        origin_sha256="45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf",
        origin_name="media/vtest.avi",
    ),
}


def default_assets_dir(repo: Path) -> Path | None:
    """VIGIE_ASSETS_DIR, else ../shared beside the repository when it exists."""
    if os.environ.get("VIGIE_ASSETS_DIR"):
        return Path(os.environ["VIGIE_ASSETS_DIR"])
    shared = repo.parent / "shared"
    return shared if shared.is_dir() else None


def resolve_asset(asset: Asset, assets_dir: Path | None, cache_dir: Path) -> Path:
    """A verified local copy of the asset, downloading it into cache_dir when there is none."""
    if assets_dir is not None and (assets_dir / asset.relative).is_file():
        try:
            return verify(assets_dir / asset.relative, asset.sha256)
        except ChecksumError as exc:
            log.warning("ignoring local copy: %s", exc)
    name = asset.origin_name or asset.relative
    return download_verified(asset.url, cache_dir / name, asset.origin_sha256 or asset.sha256)


def resolve_all(assets_dir: Path | None, cache_dir: Path) -> dict[str, Path]:
    """Every demo asset by key, verified."""
    return {
        key: resolve_asset(asset, assets_dir, cache_dir) for key, asset in demo_assets().items()
    }
