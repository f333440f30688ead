"""The login page in real Chromium on a real hub (PostGIS, Mosquitto): sign in, land on the map."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, WebSocketRoute

from tests.hubserver import (
    TEST_PASSWORD,
    add_user,
    hub_settings,
    make_event,
    publish_events,
    running_hub,
)

pytestmark = [pytest.mark.browser, pytest.mark.postgis, pytest.mark.mqtt]
PAGE_TIMEOUT_MS = 15_000
HOSTILE_MESSAGE = '<img src=x onerror="window.vigiePwned=1">'


def new_page(browser: Browser, locale: str) -> Page:
    """A page in a fresh context whose browser language is `locale`."""
    context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    return page


def sign_in(page: Page, username: str, password: str) -> None:
    """Fill in the login form and submit it."""
    page.fill("#login-username", username)
    page.fill("#login-password", password)
    page.click("#login-submit")


def test_sign_in_on_the_login_page_then_land_on_the_map(
    browser: Browser, postgis_url: str, mqtt_url: str, artifacts_dir: Path
) -> None:
    event = make_event()
    page = new_page(browser, "en-GB")
    with running_hub(hub_settings(postgis_url, mqtt_url, map_tile_url="")) as base_url:
        username = add_user(postgis_url)
        publish_events(mqtt_url, [event])
        page.goto(f"{base_url}/map/")
        redirected_to = page.url
        labels = page.locator("label").all_inner_texts()
        page.screenshot(path=str(artifacts_dir / "login.png"))

        sign_in(page, username, "wrong password")
        page.wait_for_function(
            "() => document.getElementById('login-message').textContent.includes('Wrong')"
        )
        wrong = page.locator("#login-message").inner_text()

        sign_in(page, username, TEST_PASSWORD)
        page.wait_for_url(f"{base_url}/map/")
        page.wait_for_function(
            "(id) => window.vigieMap && window.vigieMap.byEventId.has(id)", arg=str(event.event_id)
        )
        page.wait_for_selector(".vigie-connection[data-state='live']")
        cookies = {cookie["name"]: cookie for cookie in page.context.cookies()}
        page.context.close()

    assert redirected_to == f"{base_url}/login?next=/map/"
    assert labels == ["User name", "Password"]
    assert wrong == "Wrong user name or password."
    assert cookies["vigie_session"]["httpOnly"] is True
    assert cookies["vigie_session"]["sameSite"] == "Lax"
    assert cookies["vigie_csrf"]["httpOnly"] is False


def test_login_page_speaks_french_and_shows_server_messages_as_text(
    browser: Browser, postgis_url: str, mqtt_url: str
) -> None:
    page = new_page(browser, "fr-FR")
    # A server message that is markup must appear as text; the hub never sends one, so the
    # answer to this one login is replaced.
    page.route(
        "**/api/auth/login",
        lambda route: route.fulfill(
            status=500,
            content_type="application/json",
            body=json.dumps({"detail": HOSTILE_MESSAGE}),
        ),
        times=1,
    )
    with running_hub(hub_settings(postgis_url, mqtt_url, map_tile_url="")) as base_url:
        page.goto(f"{base_url}/login")
        labels = page.locator("label").all_inner_texts()
        button = page.locator("#login-submit").inner_text()
        language = page.evaluate("() => document.documentElement.lang")
        sign_in(page, "someone", "whatever-it-is")
        page.wait_for_function(
            "() => document.getElementById('login-message').textContent.includes('img')"
        )
        message = page.locator("#login-message").inner_text()
        images = page.locator("#login-message img").count()
        pwned = page.evaluate("() => window.vigiePwned")
        sign_in(page, "someone", "whatever-it-is")
        page.wait_for_function(
            "() => document.getElementById('login-message').textContent.includes('incorrect')"
        )
        page.context.close()

    assert language == "fr"
    assert labels == ["Nom d'utilisateur", "Mot de passe"]
    assert button == "Se connecter"
    assert message == HOSTILE_MESSAGE
    assert images == 0 and pwned is None


def test_the_map_returns_to_login_when_the_session_ends(
    browser: Browser, postgis_url: str, mqtt_url: str
) -> None:
    page = new_page(browser, "en-GB")
    sockets: list[WebSocketRoute] = []

    def through(route: WebSocketRoute) -> None:
        sockets.append(route)
        route.connect_to_server()

    page.route_web_socket(re.compile(r"/ws/events"), through)
    with running_hub(hub_settings(postgis_url, mqtt_url, map_tile_url="")) as base_url:
        page.goto(f"{base_url}/login?next=/map/")
        sign_in(page, add_user(postgis_url), TEST_PASSWORD)
        page.wait_for_selector(".vigie-connection[data-state='live']")
        csrf = {c["name"]: c["value"] for c in page.context.cookies()}["vigie_csrf"]
        logout = page.context.request.post(
            f"{base_url}/api/auth/logout", headers={"X-CSRF-Token": csrf}
        )
        # The live socket drops; the map reconnects, the hub refuses it (1008), the map signs out.
        sockets[0].close()
        page.wait_for_url(re.compile(r"/login\?next="))
        landed = page.url
        page.context.close()

    assert logout.status == 204
    assert landed == f"{base_url}/login?next=%2Fmap%2F"
