"""The admin panel in real headless Chromium, against a hub on real PostGIS and real Mosquitto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from edge_agent.config import SnapshotConfig
from edge_agent.detectors import DetectorConfig, create_detector
from edge_agent.snapshot import DrawnBox, render_snapshot
from hub.events.service import store_events
from hub.playbooks.defaults import DEFAULT_PLAYBOOKS
from tests.hubserver import (
    add_user,
    api_token,
    bearer,
    hub_settings,
    log_in_browser,
    logged_in_client,
    make_event,
    opened_database,
    publish,
    running_hub,
    topic_of,
    wait_until,
)
from vigie_contract import (
    CameraHealth,
    CameraStatusV1,
    Detection,
    EventV1,
    HeartbeatV1,
    camera_status_topic,
    heartbeat_topic,
    snapshot_topic,
)

pytestmark = [pytest.mark.postgis, pytest.mark.mqtt, pytest.mark.browser]
MODEL_FILE = "mobilenet_ssd_v2_coco_quant_postprocess.tflite"
KNIFE_IMAGE = "coco_000000000089_kitchen_knives.jpg"
# Generous: a loaded CI machine is slow; expect() polls and returns as soon as the page is right.
UI_TIMEOUT_MS = 20_000
MARKUP = "<img src=x onerror=alert(1)>"
PARIS = (48.8566, 2.3522)


@dataclass(frozen=True)
class Sighting:
    """A real detection of the real model on a real image, and the agent's JPEG of it."""

    detection: Detection
    jpeg: bytes


@pytest.fixture(scope="module")
def knife(models: Path, media: Path) -> Sighting:
    """The default model's best knife on the kitchen image, in a snapshot drawn like the agent's."""
    detector = create_detector(DetectorConfig(model=models / MODEL_FILE, threads=2))
    frame = cv2.imread(str(media / KNIFE_IMAGE))
    found = [d for d in detector.detect(frame) if d.label == "knife"]
    assert found, "the model finds a knife on the kitchen image"
    best = found[0]
    jpeg = render_snapshot(frame, [DrawnBox(best, 1, True)], SnapshotConfig())
    assert jpeg is not None
    return Sighting(Detection(label="knife", score=best.score, box=best.box, track_id=1), jpeg)


@contextmanager
def admin_hub(postgis_url: str, mqtt_url: str, **overrides: object) -> Iterator[str]:
    """A hub on PostGIS without map tiles (no internet here); yields its base URL."""
    with running_hub(hub_settings(postgis_url, mqtt_url, map_tile_url="", **overrides)) as url:
        yield url


@dataclass
class Session:
    """One signed-in browser tab, with the dialogs it raised (a script that ran would raise one)."""

    page: Page
    dialogs: list[str]


@contextmanager
def admin_session(
    browser: Browser, base_url: str, username: str, fragment: str = "#/live", locale: str = "en-US"
) -> Iterator[Session]:
    """A browser context signed in as `username`, on the admin panel, its stream connected."""
    context = browser.new_context(locale=locale, viewport={"width": 1440, "height": 900})
    try:
        log_in_browser(context, base_url, username)
        page = context.new_page()
        dialogs: list[str] = []

        def record(dialog) -> None:
            dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", record)
        page.goto(f"{base_url}/admin/{fragment}")
        expect(page.locator("#connection")).to_have_attribute(
            "data-state", "live", timeout=UI_TIMEOUT_MS
        )
        yield Session(page, dialogs)
    finally:
        context.close()


def screenshot(page: Page, path: Path) -> None:
    """A full-page screenshot from the top (a sticky header would otherwise sit mid-page)."""
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=path, full_page=True)


def sighting_event(sighting: Sighting, agent_id: str, camera_id: str) -> EventV1:
    """A weapon event of this agent and camera in Paris, carrying the real detection."""
    return make_event(agent_id, camera_id, *PARIS, detections=[sighting.detection])


def publish_with_snapshot(mqtt_url: str, event: EventV1, jpeg: bytes) -> None:
    """Publish the snapshot, then its event, as the agent does."""
    publish(
        mqtt_url,
        [
            (snapshot_topic(event.agent_id, event.camera_id, str(event.event_id)), jpeg),
            (topic_of(event), event.to_json()),
        ],
    )


def first_incident_id(base_url: str, token: str) -> int:
    """The id of the newest incident, once there is one."""

    def newest() -> int | None:
        items = httpx.get(f"{base_url}/api/incidents", headers=bearer(token)).json()["items"]
        return items[0]["id"] if items else None

    return wait_until(newest, 15, "an incident")


def test_dispatcher_acknowledges_a_live_threat_and_a_second_session_sees_it(
    browser, postgis_url, mqtt_url, knife, artifacts_dir
):
    with admin_hub(postgis_url, mqtt_url) as base_url:
        dispatcher = add_user(postgis_url, "dispatcher")
        colleague = add_user(postgis_url, "dispatcher")
        with (
            admin_session(browser, base_url, dispatcher) as first,
            admin_session(browser, base_url, colleague) as second,
        ):
            # The colleague mutes the alarm; the choice survives a reload.
            second.page.locator("#mute").click()
            second.page.reload()
            expect(second.page.locator("#mute")).to_have_attribute("aria-pressed", "true")
            expect(second.page.locator("#connection")).to_have_attribute(
                "data-state", "live", timeout=UI_TIMEOUT_MS
            )

            event = sighting_event(knife, "agent-gate", "gate-north")
            publish_with_snapshot(mqtt_url, event, knife.jpeg)

            page = first.page
            row = page.locator("#incident-rows tr.incident-row")
            expect(row).to_have_count(1, timeout=UI_TIMEOUT_MS)
            expect(row).to_contain_text("Weapon")
            expect(row).to_contain_text("gate-north")
            expect(row.locator(".coords-text")).to_have_text("48.85660, 2.35220")
            expect(row.locator("a.map-link")).to_have_attribute(
                "href", f"{base_url}/map/?focus=48.8566%2C2.3522"
            )
            expect(page.locator("#event-feed li").first).to_contain_text("knife")
            # A new high incident: the banner in both sessions, a beep only where not muted.
            for session in (first, second):
                expect(session.page.locator("#alarm")).to_be_visible()
                expect(session.page.locator("#alarm-text")).to_contain_text("Weapon")
            expect(page.locator("#alarm")).to_have_attribute("data-beeps", "1")
            expect(second.page.locator("#alarm")).to_have_attribute("data-beeps", "0")
            screenshot(page, artifacts_dir / "admin-live.png")

            row.click()
            expect(page.locator("#incident-title")).to_contain_text("Weapon")
            page.wait_for_function(
                "() => document.querySelector('#snapshot')?.naturalWidth > 0",
                timeout=UI_TIMEOUT_MS,
            )
            expect(page.locator("#incident-coords .coords-text")).to_have_text("48.85660, 2.35220")
            expect(page.locator("#detections")).to_contain_text("knife")
            score = f"{round(knife.detection.score * 100)} %"
            expect(page.locator("#detections")).to_contain_text(score)
            expect(page.locator("#checklist .action-text")).to_have_text(
                DEFAULT_PLAYBOOKS["weapon"].actions
            )
            expect(page.locator("#incident-map path.perimeter")).to_have_count(1)

            note = "Patrol 12 sent to the north gate"
            page.locator("#transition-note").fill(note)
            page.locator("[data-transition=acknowledged]").click()

            expect(page.locator("#incident-status .badge")).to_have_attribute(
                "data-status", "acknowledged", timeout=UI_TIMEOUT_MS
            )
            entry = page.locator("#audit-trail li[data-action='incident.transition']")
            expect(entry).to_contain_text(dispatcher)
            expect(entry.locator(".note")).to_have_text(note)
            expect(page.locator("[data-transition=acknowledged]")).to_have_count(0)
            screenshot(page, artifacts_dir / "admin-incident.png")

            # The other session follows without reloading.
            expect(second.page.locator("#incident-rows tr.incident-row")).to_have_attribute(
                "data-status", "acknowledged", timeout=UI_TIMEOUT_MS
            )
            assert first.dialogs == second.dialogs == []


def test_a_viewer_sees_no_lifecycle_button_and_the_api_refuses_a_forced_one(
    browser, postgis_url, mqtt_url, knife
):
    with admin_hub(postgis_url, mqtt_url) as base_url:
        token = api_token(postgis_url, "viewer")
        publish_with_snapshot(mqtt_url, sighting_event(knife, "agent-v", "cam-v"), knife.jpeg)
        incident_id = first_incident_id(base_url, token)
        viewer = add_user(postgis_url, "viewer")
        with admin_session(browser, base_url, viewer, f"#/incident/{incident_id}") as session:
            page = session.page
            expect(page.locator("#checklist input[type=checkbox]")).to_have_count(
                len(DEFAULT_PLAYBOOKS["weapon"].actions), timeout=UI_TIMEOUT_MS
            )
            for box in page.locator("#checklist input[type=checkbox]").all():
                expect(box).to_be_disabled()
            expect(page.locator("[data-transition]")).to_have_count(0)
            expect(page.locator("#transition-note")).to_have_count(0)

            # Forced from the viewer's own session, CSRF header included: the role is refused.
            answer = page.evaluate(
                """async (id) => {
                    const csrf = document.cookie.split('; ')
                        .find((c) => c.startsWith('vigie_csrf='));
                    const response = await fetch(`/api/incidents/${id}/transition`, {
                        method: 'POST',
                        headers: {'Content-Type': 'application/json',
                                  'X-CSRF-Token': csrf.split('=')[1]},
                        body: JSON.stringify({to: 'acknowledged'}),
                    });
                    return {status: response.status, body: await response.json()};
                }""",
                incident_id,
            )
            assert answer["status"] == 403
            assert "dispatcher" in answer["body"]["detail"]
            expect(page.locator("#incident-status .badge")).to_have_attribute("data-status", "new")


def heartbeat(agent_id: str, camera_id: str) -> bytes:
    """A heartbeat of an agent with one online camera, as sent on the wire."""
    message = HeartbeatV1(
        agent_id=agent_id,
        sent_at=datetime.now(timezone.utc),
        version="0.4.0",
        uptime_s=5400.0,
        queue_depth=3,
        cpu_load=0.42,
        cameras=[
            CameraHealth(camera_id=camera_id, state="online", fps=4.8, inference_ms=27.5),
        ],
    )
    return message.model_dump_json(by_alias=True, exclude_none=True).encode()


def test_an_agent_that_stops_heartbeating_turns_offline_on_the_fleet_page(
    browser, postgis_url, mqtt_url, artifacts_dir
):
    stale_after_s = 2.0
    with admin_hub(
        postgis_url, mqtt_url, agent_stale_after_s=stale_after_s, health_sweep_interval_s=0.5
    ) as base_url:
        admin = add_user(postgis_url, "admin")
        with admin_session(browser, base_url, admin, "#/fleet") as session:
            page = session.page
            # A camera dark for ten minutes (beyond the panel's threshold) and a live agent.
            dark_since = datetime.now(timezone.utc) - timedelta(minutes=10)
            dark = CameraStatusV1(
                agent_id="agent-depot",
                camera_id="depot-back",
                state="offline",
                since=dark_since,
                reason="no frames",
            )
            publish(
                mqtt_url,
                [
                    (heartbeat_topic("agent-depot"), heartbeat("agent-depot", "depot-front")),
                    (
                        camera_status_topic("agent-depot", "depot-back"),
                        dark.model_dump_json(by_alias=True, exclude_none=True).encode(),
                    ),
                ],
            )
            agent = page.locator("#agent-rows tr[data-agent-id='agent-depot']")
            expect(agent).to_have_attribute("data-state", "online", timeout=UI_TIMEOUT_MS)
            expect(agent).to_contain_text("0.4.0")
            front = page.locator("#camera-rows tr[data-camera-id='depot-front']")
            expect(front).to_contain_text("4.8")
            expect(front).to_contain_text("28 ms")
            expect(front).to_have_attribute("data-flagged", "false")
            back = page.locator("#camera-rows tr[data-camera-id='depot-back']")
            expect(back).to_have_attribute("data-flagged", "true", timeout=UI_TIMEOUT_MS)
            screenshot(page, artifacts_dir / "admin-fleet-online.png")

            # Silence: the hub's sweep turns the agent offline, and the page shows it unreloaded.
            expect(agent).to_have_attribute("data-state", "offline", timeout=UI_TIMEOUT_MS)
            screenshot(page, artifacts_dir / "admin-fleet.png")


def test_markup_in_a_camera_name_and_a_note_is_shown_as_text_everywhere(
    browser, postgis_url, mqtt_url, knife, artifacts_dir
):
    with admin_hub(postgis_url, mqtt_url) as base_url:
        admin = add_user(postgis_url, "admin")
        event = sighting_event(knife, "agent-x", "cam-x")
        publish_with_snapshot(mqtt_url, event, knife.jpeg)
        with logged_in_client(base_url, admin) as client:
            incident_id = wait_until(
                lambda: (client.get("/api/incidents").json()["items"] or [{}])[0].get("id"),
                15,
                "the incident",
            )
            renamed = client.put("/api/cameras/cam-x", json={"name": MARKUP})
            assert renamed.status_code == 200, renamed.text
            moved = client.post(
                f"/api/incidents/{incident_id}/transition",
                json={"to": "acknowledged", "note": MARKUP},
            )
            assert moved.status_code == 200, moved.text

        with admin_session(browser, base_url, admin) as session:
            page = session.page
            views = {
                "#/live": "#incident-rows",
                f"#/incident/{incident_id}": "#audit-trail",
                "#/history": "#history-rows",
                "#/fleet": "#camera-rows",
            }
            for fragment, holder in views.items():
                page.goto(f"{base_url}/admin/{fragment}")
                expect(page.locator(holder)).to_contain_text(MARKUP, timeout=UI_TIMEOUT_MS)
                assert page.locator("img[src='x']").count() == 0
            page.goto(f"{base_url}/admin/#/incident/{incident_id}")
            expect(page.locator(".detail-head")).to_contain_text(MARKUP, timeout=UI_TIMEOUT_MS)
            expect(page.locator("#audit-trail .note")).to_have_text(MARKUP)
            assert page.locator("img[src='x']").count() == 0
            screenshot(page, artifacts_dir / "admin-markup-as-text.png")
            assert session.dialogs == []


def test_the_french_switch_changes_the_labels_and_is_kept(browser, postgis_url, mqtt_url):
    with admin_hub(postgis_url, mqtt_url) as base_url:
        admin = add_user(postgis_url, "admin")
        with admin_session(browser, base_url, admin, locale="en-US") as session:
            page = session.page
            nav = page.locator("#nav")
            expect(nav).to_contain_text("Live")
            expect(nav).to_contain_text("History")
            page.locator("#language").select_option("fr")
            expect(nav).to_contain_text("En direct")
            expect(nav).to_contain_text("Historique")
            expect(page.locator("#logout")).to_have_text("Se déconnecter")
            expect(page.locator("html")).to_have_attribute("lang", "fr")
            page.reload()
            expect(nav).to_contain_text("Utilisateurs", timeout=UI_TIMEOUT_MS)
        # A French browser gets French without touching the switch.
        with admin_session(browser, base_url, admin, locale="fr-FR") as session:
            expect(session.page.locator("#nav")).to_contain_text("Parc")
            expect(session.page.locator("#filter-status")).to_contain_text("Ouverts")


def store_history(postgis_url: str, count: int) -> list[EventV1]:
    """Store `count` events straight into the hub's database (as ingest would), one statement."""
    start = datetime(2026, 11, 20, tzinfo=timezone.utc)
    severities = ("low", "medium", "high", "critical")
    events = [
        make_event(
            f"agent-{i % 7}",
            f"cam-{i % 13}",
            PARIS[0] + (i % 100) * 1e-4,
            PARIS[1],
            captured_at=start + timedelta(seconds=i),
            severity=severities[i % 4],
        )
        for i in range(count)
    ]
    with opened_database(postgis_url) as database, database.sessions.begin() as session:
        store_events(session, [(event, event.captured_at) for event in events])
    return events


def test_history_pages_through_ten_thousand_events_and_exports_the_filtered_ones(
    browser, postgis_url, mqtt_url, artifacts_dir
):
    with admin_hub(postgis_url, mqtt_url) as base_url:
        events = store_history(postgis_url, 10_000)
        admin = add_user(postgis_url, "admin")
        with admin_session(browser, base_url, admin, "#/history") as session:
            page = session.page
            rows = page.locator("#history-rows tr")
            expect(rows).to_have_count(50, timeout=UI_TIMEOUT_MS)
            newest = int(rows.first.get_attribute("data-event-id"))
            assert newest == 10_000
            expect(page.locator("#history-newer")).to_be_disabled()
            screenshot(page, artifacts_dir / "admin-history.png")

            page.locator("#history-older").click()
            expect(rows.first).to_have_attribute("data-event-id", str(newest - 50))
            page.locator("#history-newer").click()
            expect(rows.first).to_have_attribute("data-event-id", str(newest))

            page.locator("#filter-severity").select_option("critical")
            expect(rows.first.locator(".badge")).to_have_text("Critical", timeout=UI_TIMEOUT_MS)
            expect(page.locator("#history-rows .severity-low")).to_have_count(0)
            href = page.locator("#export-csv").get_attribute("href")
            assert "severity=critical" in href
            exported = page.context.request.get(href)
            assert exported.ok
            lines = exported.text().strip().splitlines()
            critical = sum(1 for event in events if event.severity == "critical")
            assert len(lines) == critical + 1
            geojson = page.context.request.get(
                page.locator("#export-geojson").get_attribute("href")
            )
            assert len(json.loads(geojson.text())["features"]) == critical


def test_an_admin_edits_a_playbook_and_manages_users(browser, postgis_url, mqtt_url, artifacts_dir):
    with admin_hub(postgis_url, mqtt_url) as base_url:
        admin = add_user(postgis_url, "admin")
        with admin_session(browser, base_url, admin, "#/playbooks") as session:
            page = session.page
            weapon = page.locator("form.playbook[data-threat-type='weapon']")
            expect(weapon).to_be_visible(timeout=UI_TIMEOUT_MS)
            weapon.locator("input[name=perimeter_m]").fill("120")
            weapon.locator("select[name=severity]").select_option("high")
            weapon.locator("button[type=submit]").click()
            expect(page.locator("#toast")).to_contain_text("weapon")
            expect(weapon.locator(".panel-head .badge")).to_have_text("High")
            expect(weapon).to_contain_text(f"Last changed by {admin}")
            screenshot(page, artifacts_dir / "admin-playbooks.png")

            page.goto(f"{base_url}/admin/#/users")
            page.locator("#new-username").fill("night-shift")
            page.locator("#new-password").fill("a long enough password")
            page.locator("#new-role").select_option("dispatcher")
            page.locator("#new-user button[type=submit]").click()
            row = page.locator("#user-rows tr[data-username='night-shift']")
            expect(row).to_be_visible(timeout=UI_TIMEOUT_MS)
            expect(page.locator("#users thead")).to_contain_text("Created")
            row.locator("select[name=role]").select_option("viewer")
            expect(page.locator("#toast")).to_contain_text("night-shift")
            row.locator("[data-toggle=disable]").click()
            expect(row.locator("[data-toggle=enable]")).to_be_visible(timeout=UI_TIMEOUT_MS)
            screenshot(page, artifacts_dir / "admin-users.png")

        with logged_in_client(base_url, admin) as client:
            playbook = client.get("/api/playbooks/weapon").json()
            assert (playbook["perimeter_m"], playbook["severity"]) == (120.0, "high")
            assert playbook["updated_by"] == admin
            users = {user["username"]: user for user in client.get("/api/users").json()}
            assert (users["night-shift"]["role"], users["night-shift"]["disabled"]) == (
                "viewer",
                True,
            )


def test_dispatchers_do_not_see_the_users_page(browser, postgis_url, mqtt_url):
    with admin_hub(postgis_url, mqtt_url) as base_url:
        dispatcher = add_user(postgis_url, "dispatcher")
        with admin_session(browser, base_url, dispatcher, "#/users") as session:
            page = session.page
            expect(page.locator("#nav a[data-route=users]")).to_have_count(0)
            expect(page.locator(".error-box")).to_contain_text("administrators")


def test_an_unknown_incident_says_so(browser, postgis_url, mqtt_url):
    with admin_hub(postgis_url, mqtt_url) as base_url:
        viewer = add_user(postgis_url, "viewer")
        with admin_session(browser, base_url, viewer, "#/incident/424242") as session:
            expect(session.page.locator(".error-box")).to_have_text("No such incident.")
