"""The hub's own MQTT account, for a broker that refuses anonymous clients."""

from __future__ import annotations

import logging
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hub.agents.provisioning import mosquitto_password_hash
from hub.config import HubSettings
from tests.hubserver import (
    api_token,
    bearer,
    hub_settings,
    make_event,
    publish_events,
    running_hub,
    wait_until,
)
from tests.services import MosquittoBroker, free_port

pytestmark = pytest.mark.mqtt
HUB_PASSWORD = "correct horse battery staple"
STORE_TIMEOUT_S = 15.0


@pytest.fixture
def guarded_broker() -> Iterator[tuple[str, str]]:
    """Mosquitto with a listener for the hub that refuses anonymous clients, and an anonymous
    one for the test's publisher: (hub's URL, publisher's URL)."""
    work = Path(tempfile.mkdtemp(prefix="vigie-mqtt-auth-"))
    work.chmod(0o755)  # Mosquitto reads the password file as its own user
    passwords = work / "passwd"
    passwords.write_text(f"hub:{mosquitto_password_hash(HUB_PASSWORD, secrets.token_bytes(12))}\n")
    passwords.chmod(0o644)
    guarded, open_port = free_port(), free_port()
    config = work / "mosquitto.conf"
    config.write_text(
        "per_listener_settings true\n"
        f"listener {guarded} 127.0.0.1\nallow_anonymous false\npassword_file {passwords}\n"
        f"listener {open_port} 127.0.0.1\nallow_anonymous true\n"
    )
    broker = MosquittoBroker(port=guarded, config=config)
    broker.start()
    try:
        yield f"mqtt://127.0.0.1:{guarded}", f"mqtt://127.0.0.1:{open_port}"
    finally:
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)


def test_the_hub_ingests_through_its_own_account(sqlite_url, guarded_broker) -> None:
    hub_url, publisher_url = guarded_broker
    settings = hub_settings(sqlite_url, hub_url, mqtt_username="hub", mqtt_password=HUB_PASSWORD)
    event = make_event()
    with running_hub(settings) as base_url:
        publish_events(publisher_url, [event])
        viewer = bearer(api_token(sqlite_url))
        wait_until(
            lambda: httpx.get(f"{base_url}/api/events", headers=viewer).json()["items"],
            STORE_TIMEOUT_S,
            "the event stored",
        )
        [stored] = httpx.get(f"{base_url}/api/events", headers=viewer).json()["items"]
    assert stored["event_id"] == str(event.event_id)


def test_a_wrong_password_is_logged_and_the_hub_reports_unhealthy(
    sqlite_url, guarded_broker, caplog
) -> None:
    hub_url, _ = guarded_broker
    settings = hub_settings(
        sqlite_url, hub_url, mqtt_username="hub", mqtt_password="not-the-hub-password-7f3"
    )
    with caplog.at_level(logging.WARNING), running_hub(settings, require_healthy=False) as url:
        wait_until(lambda: "refused the connection" in caplog.text, STORE_TIMEOUT_S, "the refusal")
        assert httpx.get(f"{url}/healthz").status_code == 503
    assert HUB_PASSWORD not in caplog.text and "not-the-hub-password-7f3" not in caplog.text


def test_a_password_without_a_username_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="mqtt_password"):
        HubSettings(mqtt_password="secret")
    assert "secret" not in repr(HubSettings(mqtt_username="hub", mqtt_password="secret"))
