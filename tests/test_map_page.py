"""The dispatchers' live map in real Chromium, fed by a real hub on PostGIS and Mosquitto."""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, ConsoleMessage, Page, Route, WebSocketRoute

from hub.config import HubSettings
from hub.map.routes import install
from tests.hubserver import (
    add_user,
    api_token,
    bearer,
    hub_settings,
    log_in_browser,
    make_event,
    opened_database,
    publish_events,
    running_hub,
    wait_until,
)
from vigie_contract import Detection, EventV1

STORE_TIMEOUT_S = 15.0
PAGE_TIMEOUT_MS = 15_000
# The contract lets a detection label be any text: the page must show markup there as text.
MARKUP_LABEL = '<img src=x onerror="window.vigiePwned=1">'
TILE_HOST = "http://tiles.vigie.test"
# A 1×1 transparent GIF: any image does as a tile, only the requests and the layer matter.
BLANK_TILE = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


@dataclass
class Tab:
    """A browser page plus the console errors (and uncaught exceptions) and warnings it logged."""

    page: Page
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def record(self, message: ConsoleMessage) -> None:
        """Keep console errors and warnings."""
        if message.type == "error":
            self.errors.append(message.text)
        elif message.type == "warning":
            self.warnings.append(message.text)


@pytest.fixture
def tab(browser: Browser) -> Iterator[Tab]:
    """A fresh browser context and page, recording its console."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    recorder = Tab(page)
    page.on("console", recorder.record)
    page.on("pageerror", lambda error: recorder.errors.append(f"uncaught: {error}"))
    yield recorder
    context.close()


def stored_items(base_url: str, headers: dict[str, str]) -> list[dict]:
    """The hub's stored events, newest first."""
    response = httpx.get(f"{base_url}/api/events", headers=headers, timeout=10)
    response.raise_for_status()
    return response.json()["items"]


def wait_stored(database_url: str, base_url: str, events: list[EventV1]) -> dict[str, dict]:
    """Wait until the hub stored every event; their StoredEvent JSON by event_id."""
    wanted = {str(event.event_id) for event in events}
    viewer = bearer(api_token(database_url))

    def all_stored() -> dict[str, dict]:
        found = {item["event_id"]: item for item in stored_items(base_url, viewer)}
        return found if wanted <= found.keys() else {}

    return wait_until(all_stored, STORE_TIMEOUT_S, f"{len(wanted)} events stored")


def wait_for_event_count(page: Page, count: int) -> None:
    """Wait until the map holds exactly `count` events."""
    page.wait_for_function(
        "(count) => window.vigieMap && window.vigieMap.byEventId.size === count", arg=count
    )


def layer_state(page: Page, event: EventV1) -> dict:
    """What the map drew for one event: the perimeter circle and the marker, as Leaflet has them."""
    return page.evaluate(
        """(eventId) => {
            const {map, byEventId, clusters} = window.vigieMap;
            const {marker, perimeter} = byEventId.get(eventId);
            const dot = marker.getElement()?.querySelector(".vigie-marker-dot");
            return {
                radius: perimeter.getRadius(),
                center: [perimeter.getLatLng().lat, perimeter.getLatLng().lng],
                stroke: perimeter.options.color,
                fill: perimeter.options.fillColor,
                perimeterOnMap: map.hasLayer(perimeter),
                markerInClusters: clusters.hasLayer(marker),
                markerInView: map.getBounds().contains(marker.getLatLng()),
                dotColor: dot ? getComputedStyle(dot).backgroundColor : null,
                fresh: marker.getElement()?.classList.contains("vigie-marker-fresh") ?? null,
            };
        }""",
        str(event.event_id),
    )


def rgb(hex_color: str) -> str:
    """A #rrggbb colour as getComputedStyle spells it."""
    red, green, blue = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({red}, {green}, {blue})"


def assert_drawn(state: dict, event: EventV1, colors: dict[str, str]) -> None:
    """The event's perimeter has its radius and centre, and both layers its severity's colour."""
    color = colors[event.severity]
    assert state["radius"] == pytest.approx(event.perimeter_m)
    assert state["center"] == pytest.approx([event.location.lat, event.location.lon])
    assert state["stroke"] == state["fill"] == color
    assert state["dotColor"] == rgb(color)
    assert state["perimeterOnMap"] and state["markerInClusters"]


@pytest.mark.browser
@pytest.mark.postgis
@pytest.mark.mqtt
def test_map_shows_stored_events_then_live_ones(
    tab: Tab, postgis_url: str, mqtt_url: str, artifacts_dir: Path
) -> None:
    high = make_event(
        camera_id="cam-north",
        severity="high",
        perimeter_m=120.0,
        detections=[
            Detection(label="person", score=0.62, box=(0.4, 0.1, 0.6, 0.9)),
            Detection(label=MARKUP_LABEL, score=0.91, box=(0.1, 0.2, 0.3, 0.6)),
        ],
    )
    low = make_event(camera_id="cam-south", severity="low", perimeter_m=60.0, lat=48.853, lon=2.36)
    critical = make_event(
        camera_id="cam-east", severity="critical", perimeter_m=250.0, lat=48.8548, lon=2.3563
    )
    page = tab.page
    with running_hub(hub_settings(postgis_url, mqtt_url, map_tile_url="")) as base_url:
        log_in_browser(page.context, base_url, add_user(postgis_url))
        publish_events(mqtt_url, [high, low])
        wait_stored(postgis_url, base_url, [high, low])
        page.goto(f"{base_url}/map/")
        wait_for_event_count(page, 2)
        page.wait_for_selector(".vigie-connection[data-state='live']")
        colors = page.evaluate("() => window.vigieMap.severityColors")

        # Fitted to both events, which are far enough apart on screen not to be clustered.
        for event in (high, low):
            state = layer_state(page, event)
            assert_drawn(state, event, colors)
            assert state["markerInView"] and state["fresh"] is False
        assert len(set(colors.values())) == len(colors) == 4
        assert page.locator(".vigie-marker").count() == 2
        assert page.locator(".leaflet-tile").count() == 0

        page.get_by_title(f"{high.threat_type} — {high.camera_id}").click()
        popup = page.locator(".vigie-popup")
        assert popup.locator(".vigie-popup-threat").inner_text() == high.threat_type
        assert popup.locator(".vigie-popup-camera").inner_text() == high.camera_id
        assert popup.locator(".vigie-popup-gps").inner_text() == "48.856600, 2.352200"
        captured = high.captured_at
        expected_time = (
            captured.strftime("%Y-%m-%dT%H:%M:%S.") + f"{captured.microsecond // 1000:03d}Z"
        )
        assert popup.locator("time").get_attribute("datetime") == expected_time
        assert popup.locator(".vigie-popup-label").all_inner_texts() == [MARKUP_LABEL, "person"]
        assert popup.locator("img").count() == 0
        assert page.evaluate("() => window.vigiePwned") is None

        page.evaluate("() => { window.vigieSameDocument = true; }")
        publish_events(mqtt_url, [critical])
        wait_for_event_count(page, 3)
        page.wait_for_selector(".vigie-marker-fresh")
        state = layer_state(page, critical)
        assert_drawn(state, critical, colors)
        assert state["fresh"] is True
        assert page.evaluate("() => window.vigieSameDocument") is True
        page.screenshot(path=str(artifacts_dir / "map.png"), animations="disabled")

    assert tab.errors == []


class SocketGate:
    """Routes the page's /ws/events sockets to the real hub while open, drops them while shut."""

    def __init__(self) -> None:
        self.is_open = True
        self.routes: list[WebSocketRoute] = []

    def handle(self, route: WebSocketRoute) -> None:
        """Connect a new page socket through to the hub, or close it at once."""
        self.routes.append(route)
        if self.is_open:
            route.connect_to_server()
        else:
            route.close()

    def after_ids(self) -> list[str]:
        """The after_id each page socket asked for, in order."""
        return [re.search(r"after_id=(\d+)", route.url).group(1) for route in self.routes]


@pytest.mark.browser
@pytest.mark.postgis
@pytest.mark.mqtt
def test_map_reconnects_and_replays_what_it_missed(
    tab: Tab, postgis_url: str, mqtt_url: str
) -> None:
    before, missed = make_event(camera_id="cam-before"), make_event(camera_id="cam-missed")
    page, gate = tab.page, SocketGate()
    page.route_web_socket(re.compile(r"/ws/events"), gate.handle)
    with running_hub(hub_settings(postgis_url, mqtt_url, map_tile_url="")) as base_url:
        log_in_browser(page.context, base_url, add_user(postgis_url))
        publish_events(mqtt_url, [before])
        stored_before = wait_stored(postgis_url, base_url, [before])[str(before.event_id)]
        page.goto(f"{base_url}/map/")
        wait_for_event_count(page, 1)
        page.wait_for_selector(".vigie-connection[data-state='live']")

        # Bad and repeated messages on the live socket: skipped, and the replay position holds.
        first = gate.routes[0]
        undrawable = {**stored_before, "event_id": str(uuid.uuid4()), "id": 10**9}
        del undrawable["location"]
        with page.expect_console_message(lambda message: "cannot draw" in message.text):
            first.send("not json")
            first.send(json.dumps({"type": "status", "data": {}}))
            first.send(json.dumps({"type": "event", "data": stored_before}))
            first.send(json.dumps({"type": "event", "data": undrawable}))
        assert page.evaluate("() => window.vigieMap.byEventId.size") == 1
        assert any("not JSON" in warning for warning in tab.warnings)

        gate.is_open = False
        first.close()
        page.wait_for_selector(".vigie-connection[data-state='reconnecting']")
        publish_events(mqtt_url, [missed])
        wait_stored(postgis_url, base_url, [missed])
        gate.is_open = True
        wait_for_event_count(page, 2)
        page.wait_for_selector(".vigie-connection[data-state='live']")
        markers = page.evaluate("() => window.vigieMap.clusters.getLayers().length")

    assert len(gate.routes) >= 2
    assert set(gate.after_ids()) == {str(stored_before["id"])}
    assert markers == 2
    assert tab.errors == []


@pytest.mark.browser
@pytest.mark.postgis
@pytest.mark.mqtt
def test_map_retries_when_the_hub_api_fails(tab: Tab, postgis_url: str, mqtt_url: str) -> None:
    event = make_event()
    page = tab.page
    page.route("**/map/config.json", lambda route: route.fulfill(status=500), times=1)
    page.route("**/map/events.json?*", lambda route: route.fulfill(status=503), times=1)
    with running_hub(hub_settings(postgis_url, mqtt_url, map_tile_url="")) as base_url:
        log_in_browser(page.context, base_url, add_user(postgis_url))
        publish_events(mqtt_url, [event])
        wait_stored(postgis_url, base_url, [event])
        page.goto(f"{base_url}/map/")
        wait_for_event_count(page, 1)
        page.wait_for_selector(".vigie-connection[data-state='live']")

    assert any("config.json answered HTTP 500" in warning for warning in tab.warnings)
    assert any("cannot load stored events" in warning for warning in tab.warnings)
    # Chromium reports each failed response as a console error: exactly the two injected ones.
    assert len(tab.errors) == 2
    assert all("Failed to load resource" in error for error in tab.errors)


def blank_tile(route: Route) -> None:
    """Answer a tile request with a blank image, as a tile server would."""
    route.fulfill(status=200, content_type="image/gif", body=BLANK_TILE)


@pytest.mark.browser
@pytest.mark.postgis
@pytest.mark.mqtt
def test_map_draws_the_configured_tiles(tab: Tab, postgis_url: str, mqtt_url: str) -> None:
    settings = hub_settings(
        postgis_url,
        mqtt_url,
        map_tile_url=f"{TILE_HOST}/{{z}}/{{x}}/{{y}}.png",
        map_tile_attribution="Test tiles &copy; Vigie",
    )
    page = tab.page
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.route(f"{TILE_HOST}/**", blank_tile)
    with running_hub(settings) as base_url:
        log_in_browser(page.context, base_url, add_user(postgis_url))
        publish_events(mqtt_url, [make_event()])
        page.goto(f"{base_url}/map/")
        wait_for_event_count(page, 1)
        page.wait_for_selector(".leaflet-tile-loaded")
        attribution = page.locator(".leaflet-control-attribution").inner_text()

    tiles = [url for url in requested if url.startswith(TILE_HOST)]
    assert tiles and all(re.fullmatch(rf"{TILE_HOST}/\d+/\d+/\d+\.png", url) for url in tiles)
    assert "Test tiles © Vigie" in attribution
    assert tab.errors == []


class AssetLinks(HTMLParser):
    """Collects the URLs of a page's stylesheets, scripts and icons."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Keep link hrefs and script srcs."""
        wanted = {"link": "href", "script": "src"}.get(tag)
        url = dict(attrs).get(wanted) if wanted else None
        if url:
            self.urls.append(url)


def test_install_serves_the_page_its_assets_and_config(sqlite_url: str) -> None:
    settings = HubSettings(
        map_tile_url="https://tiles.example/{z}/{x}/{y}.png", map_tile_attribution="&copy; Example"
    )
    app = FastAPI()
    with opened_database(sqlite_url) as database:
        install(app, settings, database)
        client = TestClient(app)
        check_page_assets_and_config(client, settings)


def check_page_assets_and_config(client: TestClient, settings: HubSettings) -> None:
    """The page, its linked assets, vendored Leaflet and the config answer; strays do not."""
    page = client.get("/map/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/map", follow_redirects=False).headers["location"].endswith("/map/")
    assert client.get("/map/config.json").json() == {
        "tile_url": settings.map_tile_url,
        "tile_attribution": settings.map_tile_attribution,
    }

    links = AssetLinks()
    links.feed(page.text)
    assets = [urljoin("/map/", url) for url in links.urls if not url.startswith("data:")]
    assert {
        "/vendor/leaflet/leaflet.js",
        "/vendor/leaflet-markercluster/leaflet.markercluster.js",
        "/map/static/map.js",
        "/map/static/map.css",
    } <= set(assets)
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
    for module in ("geo.js", "i18n.js"):
        assert client.get(f"/map/static/{module}").status_code == 200, module
    assert client.get("/vendor/leaflet/images/marker-icon.png").status_code == 200
    assert client.get("/map/static/missing.js").status_code == 404
    assert client.get("/vendor/leaflet/..%2F__init__.py").status_code == 404
