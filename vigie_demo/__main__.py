"""make demo: a hub (embedded MQTT broker, SQLite) and one agent with three simulated cameras.

The cameras replay real footage around Place du Châtelet in Paris through the real detector and
real MQTT, so threats appear on the live map. Each run starts clean with a fresh admin account,
whose password is printed with the URLs. Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

from vigie_demo.assets import default_assets_dir, resolve_all

log = logging.getLogger("vigie_demo")

ADMIN_USERNAME = "admin"

# Three cameras around the square, each with zones and rules that fit its footage. Zone
# polygons are in image coordinates ((0, 0) top-left, (1, 1) bottom-right) and were drawn on
# frames of each clip; headings are degrees clockwise from north.
CAMERAS = [
    {
        # A works site north of the square: the floor beyond the hazard tape is off limits.
        "id": "cam-chatelet-works",
        "clip": "worker",
        "position": {
            "lat": 48.85812,
            "lon": 2.34695,
            "accuracy_m": 10.0,
            "heading_deg": 185.0,
            "fov_deg": 70.0,
        },
        "zones": [
            {
                "name": "restricted_floor",
                "include": [[[0.10, 0.60], [0.70, 0.55], [0.75, 1.0], [0.05, 1.0]]],
            }
        ],
        "rules": [
            {
                "kind": "intrusion",
                "labels": ["person"],
                "zones": ["restricted_floor"],
                "threat_type": "intrusion",
                "severity": "medium",
                "min_score": 0.6,
                "confirm_frames": 3,
                "cooldown_s": 30,
                "perimeter_m": 40,
            }
        ],
    },
    {
        # Quai de Gesvres, a pedestrian-only quay: any vehicle on it is a threat.
        "id": "cam-quai-traffic",
        "clip": "traffic",
        "position": {
            "lat": 48.85712,
            "lon": 2.34795,
            "accuracy_m": 15.0,
            "heading_deg": 170.0,
            "fov_deg": 60.0,
        },
        "zones": [
            {
                "name": "pedestrian_quay",
                "include": [[[0.0, 0.55], [1.0, 0.55], [1.0, 0.97], [0.0, 0.97]]],
            }
        ],
        "rules": [
            {
                "kind": "intrusion",
                "labels": ["vehicle"],
                "zones": ["pedestrian_quay"],
                "threat_type": "vehicle_intrusion",
                "severity": "high",
                "min_score": 0.6,
                "confirm_frames": 3,
                "cooldown_s": 30,
                "perimeter_m": 60,
            }
        ],
    },
    {
        # On the Théâtre du Châtelet's front, looking east over the fountain's plaza and lawn.
        "id": "cam-square-fountain",
        "clip": "street",
        "position": {
            "lat": 48.85768,
            "lon": 2.34662,
            "accuracy_m": 10.0,
            "heading_deg": 95.0,
            "fov_deg": 75.0,
        },
        "zones": [
            {
                "name": "plaza",
                "include": [[[0.30, 0.35], [0.75, 0.35], [0.75, 0.60], [0.30, 0.60]]],
            },
            {
                "name": "lawn",
                "include": [[[0.0, 0.45], [0.40, 0.52], [1.0, 0.85], [1.0, 1.0], [0.0, 1.0]]],
            },
        ],
        "rules": [
            {
                "kind": "loitering",
                "labels": ["person"],
                "zones": ["plaza"],
                "dwell_s": 8,
                "threat_type": "loitering",
                "severity": "low",
                "min_score": 0.6,
                "confirm_frames": 3,
                "cooldown_s": 45,
                "perimeter_m": 30,
            },
            {
                "kind": "intrusion",
                "labels": ["person"],
                "zones": ["lawn"],
                "threat_type": "intrusion",
                "severity": "low",
                "min_score": 0.6,
                "confirm_frames": 3,
                "cooldown_s": 45,
                "perimeter_m": 30,
            },
        ],
    },
]

# Where the footage is shown (the map's attribution line and the console) it is credited.
FOOTAGE_CREDITS = (
    "Demo footage: worker-zone-detection, Intel IoT DevKit sample-videos (CC BY 4.0); "
    "traffic_frames, Google automl-video-ondevice (Apache-2.0); "
    "vtest, OpenCV samples (Apache-2.0)"
)
MAP_ATTRIBUTION = f"&copy; OpenStreetMap contributors | {FOOTAGE_CREDITS}"


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def agent_config(assets: dict[str, Path], mqtt_port: int, state: Path) -> dict:
    """The demo agent's YAML config as a mapping."""
    return {
        "agent_id": "demo-agent",
        # The embedded broker (amqtt) speaks MQTT 3.1.1 only.
        "mqtt": {"url": f"mqtt://127.0.0.1:{mqtt_port}", "protocol": "3.1.1"},
        "outbox_path": str(state / "agent-outbox.sqlite3"),
        "detector": {"model": str(assets["model"]), "labels": str(assets["labels"]), "threads": 1},
        "cameras": [
            {
                "id": camera["id"],
                "source": {
                    "type": "file",
                    "path": str(assets[camera["clip"]]),
                    "loop": True,
                    "realtime": True,
                },
                "interval_s": 0.5,
                "position": camera["position"],
                "zones": camera["zones"],
                "rules": camera["rules"],
            }
            for camera in CAMERAS
        ],
    }


def wait_until_healthy(base_url: str, hub: subprocess.Popen, timeout_s: float) -> None:
    """Poll /healthz until the hub answers 200; fail early if the hub process exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if hub.poll() is not None:
            raise RuntimeError(f"the hub exited with code {hub.returncode} during start-up")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the hub did not become healthy within {timeout_s:.0f} s")


def create_admin(hub_env: dict[str, str]) -> str:
    """Create the demo's admin account through `vigie-hub create-user`; return its password."""
    password = secrets.token_urlsafe(12)
    command = ["create-user", ADMIN_USERNAME, "--role", "admin", "--password-stdin"]
    created = subprocess.run(
        [sys.executable, "-m", "hub.cli", *command],
        input=password + "\n",
        env=hub_env,
        capture_output=True,
        text=True,
    )
    if created.returncode != 0:
        raise RuntimeError(f"cannot create the demo admin: {created.stderr.strip()}")
    return password


def place_cameras(base_url: str, password: str, timeout_s: float = 30.0) -> list[str]:
    """Give the hub each demo camera's name, position, heading and field of view (admin API).

    The hub learns a camera when its agent first reports it; wait for that, then place it.
    Returns the ids placed.
    """
    wanted = {camera["id"]: camera for camera in CAMERAS}
    placed: list[str] = []
    with httpx.Client(base_url=base_url, timeout=5.0) as client:
        login = client.post(
            "/api/auth/login", json={"username": ADMIN_USERNAME, "password": password}
        )
        login.raise_for_status()
        headers = {"X-CSRF-Token": login.json()["csrf_token"]}
        deadline = time.monotonic() + timeout_s
        while len(placed) < len(wanted) and time.monotonic() < deadline:
            known = {item["id"] for item in client.get("/api/cameras").json()["items"]}
            for camera_id in sorted((known & wanted.keys()) - set(placed)):
                position = wanted[camera_id]["position"]
                update = {
                    "name": camera_id.removeprefix("cam-").replace("-", " ").title(),
                    "lat": position["lat"],
                    "lon": position["lon"],
                    "heading_deg": position["heading_deg"],
                    "fov_deg": position["fov_deg"],
                    "range_m": 60.0,
                }
                client.put(
                    f"/api/cameras/{camera_id}", json=update, headers=headers
                ).raise_for_status()
                placed.append(camera_id)
            time.sleep(0.5)
    missing = sorted(wanted.keys() - set(placed))
    if missing:
        log.warning("the hub has not heard of camera(s) %s yet: not placed on the map", missing)
    return placed


def stop_process(process: subprocess.Popen, name: str) -> None:
    """Ask a child to stop (SIGTERM), then kill it if it does not within 10 s."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        log.warning("%s did not stop in time: killing it", name)
        process.kill()
        process.wait()


def build_parser() -> argparse.ArgumentParser:
    """The demo's command line."""
    parser = argparse.ArgumentParser(
        prog="python -m vigie_demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--http-port", type=int, default=0, help="hub HTTP port (default: free)")
    parser.add_argument("--mqtt-port", type=int, default=0, help="embedded broker port (free)")
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path(".demo"),
        help="demo state (database, outbox, configs); wiped at start",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=0.0,
        help="stop after this many seconds (default: run until Ctrl-C)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the demo until Ctrl-C (or --duration)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    state = args.state_dir.resolve()
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    assets = resolve_all(default_assets_dir(Path.cwd()), Path.home() / ".cache" / "vigie")

    http_port = args.http_port or free_port()
    mqtt_port = args.mqtt_port or free_port()
    base_url = f"http://127.0.0.1:{http_port}"
    config_path = state / "agent.yaml"
    config_path.write_text(yaml.safe_dump(agent_config(assets, mqtt_port, state), sort_keys=False))
    hub_env = os.environ | {
        "VIGIE_DATABASE_URL": f"sqlite:///{state / 'vigie.sqlite3'}",
        "VIGIE_MQTT_URL": f"mqtt://127.0.0.1:{mqtt_port}",
        "VIGIE_MQTT_EMBEDDED": "true",
        "VIGIE_HTTP_HOST": "127.0.0.1",
        "VIGIE_HTTP_PORT": str(http_port),
        "VIGIE_MAP_TILE_ATTRIBUTION": MAP_ATTRIBUTION,
    }

    admin_password = create_admin(hub_env)
    hub = subprocess.Popen([sys.executable, "-m", "hub.cli", "serve"], env=hub_env)
    agent: subprocess.Popen | None = None
    try:
        wait_until_healthy(base_url, hub, timeout_s=60)
        agent = subprocess.Popen([sys.executable, "-m", "edge_agent.cli", "run", str(config_path)])
        place_cameras(base_url, admin_password)
        print(
            f"\n  Vigie demo is running.\n  Live map: {base_url}/map/\n"
            f"  API:      {base_url}/api/events\n"
            f"  Login:    {ADMIN_USERNAME} / {admin_password}  (at {base_url}/login)\n"
            f"  {FOOTAGE_CREDITS}\n"
            "  Ctrl-C to stop.\n",
            flush=True,
        )
        deadline = time.monotonic() + args.duration if args.duration else None
        while deadline is None or time.monotonic() < deadline:
            for process, name in ((hub, "hub"), (agent, "agent")):
                if process.poll() is not None:
                    log.error("the %s exited with code %s", name, process.returncode)
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nstopping the demo", flush=True)
    finally:
        if agent is not None:
            stop_process(agent, "agent")
        stop_process(hub, "hub")
    return 0


if __name__ == "__main__":
    sys.exit(main())
