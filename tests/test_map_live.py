"""The dispatchers' map in real Chromium against a hub on real PostGIS and Mosquitto: cameras and
their fields of view, incident status, filters, a hub restart, 10,000 events, focus and language."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page

from bench.map_render import seed_events
from tests.hubserver import (
    HUB_START_TIMEOUT_S,
    add_user,
    api_token,
    bearer,
    healthz_ok,
    hub_settings,
    log_in_browser,
    logged_in_client,
    make_event,
    publish,
    publish_events,
    running_hub,
    stop_process,
    subprocess_env,
    wait_until,
)
from tests.services import free_port
from tests.test_map_page import Tab, wait_for_event_count, wait_stored
from vigie_contract import CameraStatusV1
from vigie_contract.topics import camera_status_topic

pytestmark = [pytest.mark.browser, pytest.mark.postgis, pytest.mark.mqtt]
PAGE_TIMEOUT_MS = 20_000
CAMERA = (48.8566, 2.3522)
NAMES = ("weapon", "loitering", "old")


@pytest.fixture
def tab(browser: Browser) -> Iterator[Tab]:
    """A fresh English browser page recording its console."""
    yield from open_tab(browser, "en-GB")


@pytest.fixture
def french_tab(browser: Browser) -> Iterator[Tab]:
    """A fresh page of a browser set to French, recording its console."""
    yield from open_tab(browser, "fr-FR")


def open_tab(browser: Browser, locale: str) -> Iterator[Tab]:
    """A page in a new context with `locale`, its console recorded; closed afterwards."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale=locale)
    page = context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    recorder = Tab(page)
    page.on("console", recorder.record)
    page.on("pageerror", lambda error: recorder.errors.append(f"uncaught: {error}"))
    yield recorder
    context.close()


def recent(minutes: float = 1.0) -> datetime:
    """A capture time `minutes` ago."""
    return datetime.now(timezone.utc) - timedelta(minutes=minutes)


def marker_state(page: Page, event_id: str) -> dict:
    """Whether the event's marker is shown, its icon classes and its perimeter's opacity."""
    return page.evaluate(
        """(id) => {
            const {clusters, byEventId} = window.vigieMap;
            const entry = byEventId.get(id);
            return {
                shown: clusters.hasLayer(entry.marker),
                iconClass: entry.marker.options.icon.options.className,
                opacity: entry.perimeter.options.opacity,
            };
        }""",
        event_id,
    )


def toggle(page: Page, group: str, value: str) -> None:
    """Click one checkbox of a filter group of the panel."""
    page.locator(f".{group} input[value='{value}']").click()


def choose_window(page: Page, value: str) -> None:
    """Pick a time window in the panel."""
    page.locator(".vigie-window").select_option(value)


def test_dispatcher_map_cameras_status_filters_and_screenshot(
    tab: Tab, postgis_url: str, mqtt_url: str, artifacts_dir: Path
) -> None:
    lat, lon = CAMERA
    weapon = make_event(
        camera_id="cam-east",
        lat=lat,
        lon=lon,
        severity="high",
        perimeter_m=150.0,
        captured_at=recent(),
    )
    loitering = make_event(
        camera_id="cam-south",
        threat_type="loitering",
        severity="low",
        perimeter_m=40.0,
        lat=lat - 0.0035,
        lon=lon + 0.004,
        captured_at=recent(2),
    )
    old = make_event(
        camera_id="cam-west",
        threat_type="intrusion",
        severity="critical",
        perimeter_m=80.0,
        lat=lat + 0.002,
        lon=lon - 0.005,
        captured_at=recent(120),
    )
    events = [weapon, loitering, old]
    dark = CameraStatusV1(
        agent_id="agent-1", camera_id="cam-west", state="offline", since=recent(), reason="cut"
    )
    page = tab.page
    settings = hub_settings(postgis_url, mqtt_url, map_tile_url="")
    with running_hub(settings) as base_url:
        publish_events(mqtt_url, events)
        wait_stored(postgis_url, base_url, events)
        publish(mqtt_url, [(camera_status_topic("agent-1", "cam-west"), dark.to_json())])
        admin = bearer(api_token(postgis_url, "admin"))
        placed = {
            "name": "Rue de Rivoli east",
            "lat": lat,
            "lon": lon,
            "heading_deg": 90.0,
            "fov_deg": 60.0,
            "range_m": 200.0,
        }
        response = httpx.put(f"{base_url}/api/cameras/cam-east", json=placed, headers=admin)
        assert response.status_code == 200, response.text
        wait_until(
            lambda: camera_state(base_url, admin, "cam-west") == "offline", 15, "camera offline"
        )
        dispatcher = add_user(postgis_url, "dispatcher")
        log_in_browser(page.context, base_url, dispatcher)
        page.goto(f"{base_url}/map/")
        wait_for_event_count(page, 3)
        page.wait_for_function("() => window.vigieMap.cameras.size === 3")

        # The cone of a camera looking east: apex at the camera, the arc east of it, from
        # bearing 60° (north of the camera's latitude) to 120° (south of it), 200 m away.
        cone = page.evaluate(
            """() => window.vigieMap.cameras.get("cam-east").cone.getLatLngs()[0]
                       .map((p) => [p.lat, p.lng])"""
        )
        apex, arc = cone[0], cone[1:]
        assert apex == pytest.approx([lat, lon])
        assert all(point[1] > lon for point in arc)
        assert arc[0][0] > lat > arc[-1][0]
        middle = arc[len(arc) // 2]
        assert middle[0] == pytest.approx(lat, abs=1e-6)
        assert haversine(apex, middle) == pytest.approx(200.0, rel=1e-3)
        assert page.locator(".vigie-camera-offline").count() == 1
        assert page.evaluate("() => window.vigieMap.cameras.get('cam-west').state") == "offline"

        # Filters: the default 24 h window shows all three; 15 minutes hides the old one.
        ids = {name: str(event.event_id) for name, event in zip(NAMES, events, strict=True)}
        assert all(marker_state(page, event_id)["shown"] for event_id in ids.values())
        choose_window(page, "15m")
        assert not marker_state(page, ids["old"])["shown"]
        assert marker_state(page, ids["weapon"])["shown"]
        choose_window(page, "24h")
        assert marker_state(page, ids["old"])["shown"]
        toggle(page, "vigie-severities", "low")
        assert not marker_state(page, ids["loitering"])["shown"]
        toggle(page, "vigie-severities", "low")
        toggle(page, "vigie-types", "loitering")
        assert not marker_state(page, ids["loitering"])["shown"]
        toggle(page, "vigie-types", "loitering")
        assert marker_state(page, ids["loitering"])["shown"]
        assert "3 of 3" in page.locator(".vigie-count").inner_text()

        # The popup of a dispatcher: playbook actions, the admin link, and the lifecycle.
        page.get_by_title("weapon — cam-east").click()
        popup = page.locator(".vigie-popup")
        popup.locator(".vigie-popup-checklist li").first.wait_for()
        assert "police" in popup.locator(".vigie-popup-checklist").inner_text()
        incident_id = page.evaluate(
            "(id) => window.vigieMap.byEventId.get(id).incidentId", ids["weapon"]
        )
        link = popup.locator(".vigie-popup-admin").get_attribute("href")
        assert link == f"../admin/#/incidents/{incident_id}"
        popup.locator("button[data-to='acknowledged']").click()
        page.wait_for_function(
            "(id) => window.vigieMap.byEventId.get(id).marker.options.status === 'acknowledged'",
            arg=ids["weapon"],
        )
        assert "vigie-status-acknowledged" in marker_state(page, ids["weapon"])["iconClass"]
        page.locator(".vigie-popup button[data-to='dispatched']").wait_for()

        # Another dispatcher's change redraws the open popup: its status and the buttons left.
        with logged_in_client(base_url, add_user(postgis_url, "dispatcher")) as other:
            other.post(
                f"/api/incidents/{incident_id}/transition", json={"to": "dispatched"}
            ).raise_for_status()
            popup.locator(".vigie-popup-status.vigie-status-dispatched").wait_for()
            assert popup.locator("button[data-to='dispatched']").count() == 0
            popup.locator("button[data-to='resolved']").wait_for()
            page.evaluate("() => window.vigieMap.map.closePopup()")
            page.screenshot(path=str(artifacts_dir / "map-dispatch.png"), animations="disabled")

            # A change made elsewhere reaches the map live: resolved fades, the filter hides it.
            other.post(
                f"/api/incidents/{incident_id}/transition", json={"to": "resolved"}
            ).raise_for_status()
        page.wait_for_function(
            "(id) => window.vigieMap.byEventId.get(id).marker.options.status === 'resolved'",
            arg=ids["weapon"],
        )
        state = marker_state(page, ids["weapon"])
        assert "vigie-marker-closed" in state["iconClass"] and state["opacity"] < 0.5
        toggle(page, "vigie-statuses", "resolved")
        assert not marker_state(page, ids["weapon"])["shown"]

    assert tab.errors == []


def camera_state(base_url: str, headers: dict[str, str], camera_id: str) -> str | None:
    """The state the hub has for a camera."""
    items = httpx.get(f"{base_url}/api/cameras", headers=headers, timeout=10).json()["items"]
    return next((camera["state"] for camera in items if camera["id"] == camera_id), None)


def haversine(a: list[float], b: list[float]) -> float:
    """Metres between two [lat, lon] points on the mean-radius sphere."""
    from hub.events.service import haversine_m

    return haversine_m(a[0], a[1], b[0], b[1])


@contextmanager
def hub_on_port(port: int, env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen]:
    """`vigie-hub serve` on a fixed port (a restart must come back where the page points)."""
    command = [str(Path(sys.executable).with_name("vigie-hub")), "serve", "--port", str(port)]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command, env=subprocess_env(env), stdout=log, stderr=subprocess.STDOUT
        )
    try:
        base_url = f"http://127.0.0.1:{port}"
        wait_until(
            lambda: healthz_ok(base_url) or process.poll() is not None,
            HUB_START_TIMEOUT_S,
            "vigie-hub to be healthy",
        )
        assert process.poll() is None, log_path.read_text()[-2000:]
        yield process
    finally:
        stop_process(process)


def test_map_shows_every_event_published_while_the_hub_was_down(
    tab: Tab, postgis_url: str, mqtt_url: str, tmp_path: Path
) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        "VIGIE_DATABASE_URL": postgis_url,
        "VIGIE_MQTT_URL": mqtt_url,
        # A fixed id: the broker keeps the hub's session, and what is published meanwhile.
        "VIGIE_MQTT_CLIENT_ID": f"vigie-map-restart-{uuid.uuid4().hex[:8]}",
        "VIGIE_MAP_TILE_URL": "",
    }
    before = make_event(camera_id="cam-before", captured_at=recent())
    missed = [
        make_event(camera_id=f"cam-gap-{n}", lat=48.85 + n / 1000, captured_at=recent())
        for n in range(3)
    ]
    page = tab.page
    with hub_on_port(port, env, tmp_path / "hub-1.log"):
        log_in_browser(page.context, base_url, add_user(postgis_url))
        publish_events(mqtt_url, [before])
        wait_stored(postgis_url, base_url, [before])
        page.goto(f"{base_url}/map/")
        wait_for_event_count(page, 1)
        page.wait_for_selector(".vigie-connection[data-state='live']")
    page.wait_for_selector(".vigie-connection[data-state='reconnecting']")
    publish_events(mqtt_url, missed)
    with hub_on_port(port, env, tmp_path / "hub-2.log"):
        wait_for_event_count(page, 4)
        page.wait_for_selector(".vigie-connection[data-state='live']")
        on_map = page.evaluate("() => window.vigieMap.clusters.getLayers().length")

    assert on_map == 4
    # While the hub was down the page logged its failed reconnects, nothing else.
    assert all("WebSocket" in error or "Failed to load" in error for error in tab.errors)


def test_map_first_render_of_ten_thousand_stored_events(
    tab: Tab, postgis_url: str, mqtt_url: str
) -> None:
    seed_events(postgis_url, 10_000, datetime.now(timezone.utc))
    page = tab.page
    with running_hub(hub_settings(postgis_url, mqtt_url, map_tile_url="")) as base_url:
        log_in_browser(page.context, base_url, add_user(postgis_url))
        page.goto(f"{base_url}/map/")
        page.wait_for_function(
            "() => window.vigieMap && window.vigieMap.stats.allPlacedMs !== null", timeout=120_000
        )
        drawn = page.evaluate(
            """() => ({
                events: window.vigieMap.byEventId.size,
                markers: window.vigieMap.clusters.getLayers().length,
                perimeters: window.vigieMap.perimeters.getLayers().length,
                icons: document.querySelectorAll(".leaflet-marker-icon").length,
                first: window.vigieMap.stats.firstRenderMs,
            })"""
        )

    assert drawn["events"] == drawn["markers"] == drawn["perimeters"] == 10_000
    assert drawn["first"] is not None
    # Clustering keeps the DOM small: a few hundred icons at most stand for 10,000 events.
    assert 0 < drawn["icons"] < 500
    assert tab.errors == []


def test_map_focus_language_and_viewer_popup(
    french_tab: Tab, postgis_url: str, mqtt_url: str
) -> None:
    event = make_event(captured_at=recent())
    page = french_tab.page
    with running_hub(hub_settings(postgis_url, mqtt_url, map_tile_url="")) as base_url:
        publish_events(mqtt_url, [event])
        wait_stored(postgis_url, base_url, [event])
        log_in_browser(page.context, base_url, add_user(postgis_url, "viewer"))
        page.goto(f"{base_url}/map/?focus=48.8600,2.3400")
        wait_for_event_count(page, 1)
        view = page.evaluate(
            "() => { const c = window.vigieMap.map.getCenter();"
            " return [c.lat, c.lng, window.vigieMap.map.getZoom()]; }"
        )
        french = page.locator(".vigie-severities legend").text_content()
        page.locator(".vigie-language").click()
        english = page.locator(".vigie-severities legend").text_content()
        page.get_by_title(f"{event.threat_type} — {event.camera_id}").click()
        page.locator(".vigie-popup-checklist li").first.wait_for()
        buttons = page.locator(".vigie-popup button").count()
        with page.expect_console_message(lambda message: "ignored focus" in message.text):
            page.goto(f"{base_url}/map/?focus=north")
        wait_for_event_count(page, 1)
        kept = page.evaluate("() => window.vigieMap.i18n.language")

    assert view == pytest.approx([48.86, 2.34, 17])
    assert (french, english) == ("Gravité", "Severity")
    assert buttons == 0
    assert kept == "en"
    assert french_tab.errors == []


def test_map_feed_pages_links_incidents_and_refuses_bad_windows(
    postgis_url: str, mqtt_url: str
) -> None:
    events = [make_event(camera_id=f"cam-{n}", captured_at=recent(n)) for n in range(3)]
    with running_hub(hub_settings(postgis_url, mqtt_url)) as base_url:
        publish_events(mqtt_url, events)
        wait_stored(postgis_url, base_url, events)
        viewer = bearer(api_token(postgis_url))
        feed = f"{base_url}/map/events.json"
        first = httpx.get(feed, params={"limit": 2}, headers=viewer).json()
        rest = httpx.get(
            feed, params={"limit": 2, "before_id": first["next_before_id"]}, headers=viewer
        ).json()
        recent_only = httpx.get(
            feed, params={"captured_from": recent(1.5).isoformat()}, headers=viewer
        ).json()
        upside_down = httpx.get(
            feed,
            params={"captured_from": recent(0).isoformat(), "captured_to": recent(5).isoformat()},
            headers=viewer,
        )
        anonymous = httpx.get(feed)

    items = first["items"] + rest["items"]
    assert [item["id"] for item in items] == sorted((item["id"] for item in items), reverse=True)
    assert {item["event_id"] for item in items} == {str(event.event_id) for event in events}
    assert rest["next_before_id"] is None
    assert all(item["incident"]["status"] == "new" for item in items)
    assert {item["camera_id"] for item in recent_only["items"]} == {"cam-0", "cam-1"}
    assert upside_down.status_code == 422
    assert anonymous.status_code == 401
