"""The admin panel's routes: locked behind the login, strict content policy, settings it reads."""

from __future__ import annotations

import httpx
import pytest

from tests.hubserver import add_user, hub_settings, logged_in_client, running_hub

pytestmark = pytest.mark.mqtt


def test_the_panel_sends_anonymous_browsers_to_the_login_page(sqlite_url, mqtt_url):
    with running_hub(hub_settings(sqlite_url, mqtt_url)) as base_url:
        page = httpx.get(f"{base_url}/admin/", headers={"Accept": "text/html"})
        assert page.status_code == 303
        assert page.headers["location"] == "/login?next=/admin/"
        assert httpx.get(f"{base_url}/admin/config.json").status_code == 401
        assert httpx.get(f"{base_url}/admin/static/app.js").status_code == 401


def test_the_panel_page_forbids_inline_scripts_and_reads_its_settings(sqlite_url, mqtt_url):
    settings = hub_settings(
        sqlite_url,
        mqtt_url,
        map_tile_url="",
        map_tile_attribution="none",
        admin_camera_offline_alert_s=900.0,
    )
    with (
        running_hub(settings) as base_url,
        logged_in_client(base_url, add_user(sqlite_url, "viewer")) as client,
    ):
        page = client.get("/admin/")
        assert page.status_code == 200
        policy = page.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "unsafe-inline" not in policy
        assert 'src="static/app.js"' in page.text
        config = client.get("/admin/config.json").json()
        assert config["tile_url"] == ""
        assert config["tile_attribution"] == "none"
        assert config["camera_offline_alert_s"] == 900.0
        assert client.get("/admin/static/no-such-file.js").status_code == 404
