"""Authentication on a real hub (PostGIS, Mosquitto): sessions, CSRF, tokens, throttling, logs."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
from websockets.exceptions import ConnectionClosedError
from websockets.sync.client import connect

from hub.users.models import UserSession
from hub.users.service import utc_now
from tests.hubserver import (
    TEST_PASSWORD,
    add_user,
    api_token,
    bearer,
    hub_settings,
    logged_in_client,
    make_event,
    opened_database,
    publish_events,
    running_hub,
)

pytestmark = [pytest.mark.postgis, pytest.mark.mqtt]
RECEIVE_TIMEOUT_S = 15.0
WRONG_PASSWORD = "not the right one"


@pytest.fixture
def base_url(postgis_url: str, mqtt_url: str) -> Iterator[str]:
    """A running hub on a fresh PostGIS database."""
    with running_hub(hub_settings(postgis_url, mqtt_url)) as url:
        yield url


def login(base_url: str, username: str, password: str = TEST_PASSWORD, **kwargs) -> httpx.Response:
    """POST /api/auth/login with JSON credentials."""
    credentials = {"username": username, "password": password}
    return httpx.post(f"{base_url}/api/auth/login", json=credentials, timeout=10, **kwargs)


def cookie_attributes(response: httpx.Response) -> dict[str, set[str]]:
    """Each Set-Cookie's name mapped to its lower-cased attributes (value left out)."""
    cookies = {}
    for header in response.headers.get_list("set-cookie"):
        name_value, *attributes = (part.strip() for part in header.split(";"))
        cookies[name_value.split("=")[0]] = {attribute.lower() for attribute in attributes}
    return cookies


def stream_url(base_url: str) -> str:
    """The ws:// URL of /ws/events."""
    return f"ws{base_url.removeprefix('http')}/ws/events"


def next_event(websocket) -> dict:
    """The data of the next event message, skipping other kinds (incident changes)."""
    while True:
        message = json.loads(websocket.recv(timeout=RECEIVE_TIMEOUT_S))
        if message["type"] == "event":
            return message["data"]


def test_login_me_and_logout(base_url: str, postgis_url: str) -> None:
    username = add_user(postgis_url, "dispatcher")
    with logged_in_client(base_url, username) as client:
        me = client.get("/api/auth/me")
        session_cookies = dict(client.cookies)
        logout = client.post("/api/auth/logout")
        after = client.get("/api/auth/me")
    replayed = httpx.get(f"{base_url}/api/auth/me", cookies=session_cookies)

    assert me.status_code == 200
    assert me.json() == {
        "id": me.json()["id"],
        "username": username,
        "role": "dispatcher",
        "auth": "session",
    }
    assert logout.status_code == 204
    assert after.status_code == 401
    # The server-side session is gone: the old cookie no longer works either.
    assert replayed.status_code == 401


def test_login_answer_and_cookie_flags(base_url: str, postgis_url: str) -> None:
    username = add_user(postgis_url)
    response = login(base_url, username.upper())

    assert response.status_code == 200
    body = response.json()
    assert body["user"]["username"] == username
    assert body["user"]["role"] == "viewer"
    assert "password" not in json.dumps(body) and "argon2" not in response.text
    flags = cookie_attributes(response)
    assert {"httponly", "samesite=lax", "path=/"} <= flags["vigie_session"]
    assert "samesite=lax" in flags["vigie_csrf"]
    assert "httponly" not in flags["vigie_csrf"]
    assert all("secure" not in attributes for attributes in flags.values())
    assert response.cookies["vigie_csrf"] == body["csrf_token"]


def test_form_login_is_accepted(base_url: str, postgis_url: str) -> None:
    username = add_user(postgis_url)
    response = httpx.post(
        f"{base_url}/api/auth/login", data={"username": username, "password": TEST_PASSWORD}
    )
    assert response.status_code == 200
    assert "vigie_session" in response.cookies


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b'{"username": "x"}', "application/json", 422),
        (b"{not json", "application/json", 422),
        (b"username=x&password=y&role=admin", "application/x-www-form-urlencoded", 422),
        (b"<login/>", "application/xml", 415),
        (b"x" * 20_000, "application/json", 413),
    ],
)
def test_malformed_logins_are_refused_clearly(
    base_url: str, body: bytes, content_type: str, status: int
) -> None:
    response = httpx.post(
        f"{base_url}/api/auth/login", content=body, headers={"Content-Type": content_type}
    )
    assert response.status_code == status
    assert response.json()["detail"]


def test_wrong_password_unknown_user_and_disabled_user_are_refused_alike(
    base_url: str, postgis_url: str
) -> None:
    username, disabled = add_user(postgis_url), add_user(postgis_url)
    admin = bearer(api_token(postgis_url, "admin"))
    with logged_in_client(base_url, disabled) as disabled_session:
        disabled_token = disabled_session.post("/api/auth/tokens", json={"name": "t"}).json()
        users = httpx.get(f"{base_url}/api/users", headers=admin).json()
        (disabled_id,) = [user["id"] for user in users if user["username"] == disabled]
        disabling = httpx.patch(
            f"{base_url}/api/users/{disabled_id}", json={"disabled": True}, headers=admin
        )
        session_after = disabled_session.get("/api/auth/me")
    token_after = httpx.get(f"{base_url}/api/auth/me", headers=bearer(disabled_token["token"]))

    refusals = [
        login(base_url, username, WRONG_PASSWORD),
        login(base_url, "nobody-here"),
        login(base_url, disabled),
        login(base_url, "../not a valid name"),
    ]
    assert [response.status_code for response in refusals] == [401] * 4
    assert {response.json()["detail"] for response in refusals} == {"wrong username or password"}
    assert disabling.status_code == 200 and disabling.json()["disabled"] is True
    # Disabling ends the user's sessions and revokes its tokens at once.
    assert session_after.status_code == 401
    assert token_after.status_code == 401


def test_expired_session_is_refused_and_the_map_sends_to_login(
    base_url: str, postgis_url: str
) -> None:
    username = add_user(postgis_url)
    with logged_in_client(base_url, username) as client:
        assert client.get("/api/auth/me").status_code == 200
        with opened_database(postgis_url) as database, database.sessions.begin() as session:
            session.execute(
                sa.update(UserSession).values(expires_at=utc_now() - timedelta(seconds=1))
            )
        me = client.get("/api/auth/me")
        page = client.get("/map/", headers={"Accept": "text/html"}, follow_redirects=False)
        script = client.get("/map/static/map.js", follow_redirects=False)

    assert me.status_code == 401
    assert me.headers["www-authenticate"] == "Bearer"
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=/map/"
    assert script.status_code == 401


@pytest.mark.parametrize(
    ("trusted", "forwarded_proto", "secure"),
    [(True, "https", True), (True, "http", False), (False, "https", False)],
)
def test_secure_cookies_behind_a_trusted_proxy(
    postgis_url: str, mqtt_url: str, trusted: bool, forwarded_proto: str, secure: bool
) -> None:
    settings = hub_settings(postgis_url, mqtt_url, auth_trust_forwarded_headers=trusted)
    username = add_user(postgis_url)
    with running_hub(settings) as base_url:
        response = login(base_url, username, headers={"X-Forwarded-Proto": forwarded_proto})

    assert response.status_code == 200
    flags = cookie_attributes(response)
    assert ("secure" in flags["vigie_session"]) is secure
    assert ("secure" in flags["vigie_csrf"]) is secure


def test_cookie_state_changes_need_the_csrf_header(base_url: str, postgis_url: str) -> None:
    username = add_user(postgis_url)
    token = api_token(postgis_url)
    with logged_in_client(base_url, username) as client:
        right = client.headers.pop("X-CSRF-Token")
        missing = client.post("/api/auth/tokens", json={"name": "no header"})
        wrong = client.post(
            "/api/auth/tokens", json={"name": "wrong"}, headers={"X-CSRF-Token": "0" * 64}
        )
        logout_missing = client.post("/api/auth/logout")
        accepted = client.post(
            "/api/auth/tokens", json={"name": "right"}, headers={"X-CSRF-Token": right}
        )
        reading = client.get("/api/auth/tokens")
    # A bearer token is not sent by browsers on their own: no CSRF header needed.
    with_token = httpx.post(
        f"{base_url}/api/auth/tokens", json={"name": "api"}, headers=bearer(token)
    )

    assert [missing.status_code, wrong.status_code, logout_missing.status_code] == [403] * 3
    assert "CSRF" in missing.json()["detail"]
    assert accepted.status_code == 201
    assert [item["name"] for item in reading.json()] == ["right"]
    assert with_token.status_code == 201


def test_repeated_failures_are_throttled_per_user_and_address(
    postgis_url: str, mqtt_url: str
) -> None:
    settings = hub_settings(
        postgis_url, mqtt_url, auth_login_max_failures=3, auth_trust_forwarded_headers=True
    )
    victim, other = add_user(postgis_url), add_user(postgis_url)
    attacker = {"X-Forwarded-For": "203.0.113.7"}
    with running_hub(settings) as base_url:
        failures = [login(base_url, victim, WRONG_PASSWORD, headers=attacker) for _ in range(3)]
        throttled_wrong = login(base_url, victim, WRONG_PASSWORD, headers=attacker)
        throttled_right = login(base_url, victim, headers=attacker)
        other_user = login(base_url, other, headers=attacker)
        other_address = login(base_url, victim, headers={"X-Forwarded-For": "198.51.100.2"})

    assert [response.status_code for response in failures] == [401] * 3
    assert throttled_wrong.status_code == throttled_right.status_code == 429
    assert 0 < int(throttled_right.headers["retry-after"]) <= settings.auth_login_window_s
    assert "vigie_session" not in throttled_right.cookies
    assert other_user.status_code == 200
    assert other_address.status_code == 200


def test_api_tokens_authenticate_and_can_be_revoked(base_url: str, postgis_url: str) -> None:
    username = add_user(postgis_url, "dispatcher")
    with logged_in_client(base_url, username) as client:
        created = client.post("/api/auth/tokens", json={"name": "script"})
        listed = client.get("/api/auth/tokens").json()
        token = created.json()["token"]
        me = httpx.get(f"{base_url}/api/auth/me", headers=bearer(token))
        events = httpx.get(f"{base_url}/api/events", headers=bearer(token))
        # A bearer header is the only credential looked at when present, even beside a cookie.
        bad_bearer = client.get("/api/auth/me", headers=bearer("vgt_forged"))
        revoked = client.delete(f"/api/auth/tokens/{created.json()['id']}")
        revoked_again = client.delete(f"/api/auth/tokens/{created.json()['id']}")
    after_revoke = httpx.get(f"{base_url}/api/auth/me", headers=bearer(token))
    malformed = [
        httpx.get(f"{base_url}/api/events", headers={"Authorization": value})
        for value in ("Basic dXNlcjpwYXNz", "Bearer", "Token abc", token)
    ]

    assert created.status_code == 201
    assert token.startswith("vgt_")
    assert listed == [{key: created.json()[key] for key in ("id", "name", "created_at")}]
    assert me.json()["username"] == username and me.json()["auth"] == "token"
    assert events.status_code == 200
    assert bad_bearer.status_code == 401
    assert revoked.status_code == 204 and revoked_again.status_code == 404
    assert after_revoke.status_code == 401
    assert [response.status_code for response in malformed] == [401] * 4


def test_websocket_needs_a_session_or_a_token(
    base_url: str, postgis_url: str, mqtt_url: str
) -> None:
    username, token = add_user(postgis_url), api_token(postgis_url)
    with logged_in_client(base_url, username) as client:
        cookie = {"Cookie": f"vigie_session={client.cookies['vigie_session']}"}
    same_origin = {**cookie, "Origin": base_url}
    foreign_origin = {**cookie, "Origin": "https://evil.example"}
    refused = {}
    for name, headers in [
        ("anonymous", {}),
        ("forged token", bearer("vgt_forged")),
        ("foreign origin", foreign_origin),
    ]:
        with (
            connect(stream_url(base_url), additional_headers=headers) as websocket,
            pytest.raises(ConnectionClosedError) as closed,
        ):
            websocket.recv(timeout=RECEIVE_TIMEOUT_S)
        refused[name] = closed.value.rcvd.code

    event = make_event()
    with (
        connect(stream_url(base_url), additional_headers=same_origin) as by_cookie,
        connect(stream_url(base_url), additional_headers=bearer(token)) as by_token,
    ):
        publish_events(mqtt_url, [event])
        received = [next_event(websocket) for websocket in (by_cookie, by_token)]

    assert refused == {"anonymous": 1008, "forged token": 1008, "foreign origin": 1008}
    assert [data["event_id"] for data in received] == [str(event.event_id)] * 2


def test_passwords_never_reach_logs_or_answers(
    base_url: str, postgis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    new_password = "a-new-secret-passphrase"
    short_password = "short"
    with logged_in_client(base_url, add_user(postgis_url, "admin")) as admin:
        answers = [
            admin.post(
                "/api/users",
                json={"username": "newcomer", "password": new_password, "role": "viewer"},
            ),
            admin.post(
                "/api/users",
                json={"username": "shorty", "password": short_password, "role": "viewer"},
            ),
            login(base_url, "newcomer", WRONG_PASSWORD),
            login(base_url, "newcomer", new_password),
            admin.get("/api/users"),
        ]

    assert [answer.status_code for answer in answers] == [201, 422, 401, 200, 200]
    assert "password" in answers[1].json()["detail"][0]["loc"]
    for secret in (new_password, short_password, WRONG_PASSWORD, TEST_PASSWORD):
        assert secret not in caplog.text
        assert all(secret not in answer.text for answer in answers)
    assert all("argon2" not in answer.text for answer in answers)
    # The log does say what happened, without the secrets.
    assert "login refused for 'newcomer'" in caplog.text
    assert "user newcomer logged in" in caplog.text
