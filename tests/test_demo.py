"""`make demo`'s entry point, run headless for a bounded time: threats from the simulated cameras
reach the API and the live map, and Ctrl-C stops everything cleanly."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading

import httpx

from tests.hubserver import bearer, log_in_browser, logged_in_client, wait_until

DEMO_GUARD_S = 120
# What each demo camera's zones and rules may report (vigie_demo.CAMERAS).
THREATS_BY_CAMERA = {
    "cam-chatelet-works": {"intrusion"},
    "cam-quai-traffic": {"vehicle_intrusion"},
    "cam-square-fountain": {"loitering", "intrusion"},
}


def test_demo_cameras_reach_the_live_map(tmp_path, browser, artifacts_dir):
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vigie_demo",
            "--state-dir",
            str(tmp_path / "demo"),
            "--duration",
            str(DEMO_GUARD_S),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(demo.stdout), daemon=True)
    reader.start()
    try:
        match = wait_until(
            lambda: re.search(r"Live map: (http://127\.0\.0\.1:\d+)/map/", "".join(output)),
            timeout=60,
            what="the demo to print its map URL",
        )
        base_url = match.group(1)
        username, password = re.search(r"Login: +(\S+) / (\S+)", "".join(output)).groups()
        with logged_in_client(base_url, username, password) as client:
            me = client.get("/api/auth/me").json()
            token = client.post("/api/auth/tokens", json={"name": "test"}).json()["token"]
        assert me["role"] == "admin"
        assert httpx.get(f"{base_url}/api/events").status_code == 401

        threats_seen: dict[str, set[str]] = {}

        def event_ids_by_camera() -> dict[str, list[str]]:
            items = httpx.get(f"{base_url}/api/events?limit=1000", headers=bearer(token)).json()[
                "items"
            ]
            by_camera: dict[str, list[str]] = {}
            for item in items:
                by_camera.setdefault(item["camera_id"], []).append(item["event_id"])
                threats_seen.setdefault(item["camera_id"], set()).add(item["threat_type"])
            return by_camera

        by_camera = wait_until(
            lambda: len(ids := event_ids_by_camera()) >= 2 and ids,
            timeout=60,
            what="events from two demo cameras",
        )
        assert set(by_camera) <= set(THREATS_BY_CAMERA)
        for camera_id, threats in threats_seen.items():
            assert threats <= THREATS_BY_CAMERA[camera_id], camera_id
        assert "CC BY 4.0" in "".join(output)

        context = browser.new_context(viewport={"width": 1280, "height": 800})
        log_in_browser(context, base_url, username, password)
        page = context.new_page()
        page.goto(f"{base_url}/map/")
        # One event of each camera, drawn with its perimeter on the map.
        wanted = [ids[0] for ids in by_camera.values()]
        page.wait_for_function(
            """ids => window.vigieMap && ids.every(id => {
                const layers = window.vigieMap.byEventId.get(id);
                return layers && window.vigieMap.map.hasLayer(layers.perimeter);
            })""",
            arg=wanted,
            timeout=15000,
        )
        # The demo places its three cameras, each drawn with its field-of-view cone.
        page.wait_for_function(
            """() => ["cam-chatelet-works", "cam-quai-traffic", "cam-square-fountain"]
                .every(id => window.vigieMap.cameras.has(id))""",
            timeout=15000,
        )
        page.screenshot(path=str(artifacts_dir / "demo-map.png"))
        # The admin panel on the same live data: the README shows both (docs/images/).
        page.goto(f"{base_url}/admin/")
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(artifacts_dir / "demo-admin.png"))
        context.close()
    finally:
        demo.send_signal(signal.SIGINT)
        demo.wait(timeout=30)
        reader.join(5)
    assert demo.returncode == 0, "".join(output)[-3000:]
    assert "Traceback" not in "".join(output)
