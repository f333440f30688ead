"""Managing users: the admins' /api/users on a real hub, and vigie-hub create-user/-token."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from hub.cli import main as hub_cli
from hub.users import service
from hub.users.roles import Role
from tests.hubserver import (
    api_token,
    bearer,
    hub_settings,
    opened_database,
    running_hub,
    subprocess_env,
)

CLI_PASSWORD = "a long enough passphrase"


@pytest.mark.postgis
@pytest.mark.mqtt
def test_admins_create_promote_and_disable_users(postgis_url: str, mqtt_url: str) -> None:
    with running_hub(hub_settings(postgis_url, mqtt_url)) as base_url:
        admin = bearer(api_token(postgis_url, "admin"))

        def call(method: str, path: str, body: dict | None = None) -> httpx.Response:
            return httpx.request(method, f"{base_url}{path}", json=body, headers=admin)

        created = call(
            "POST", "/api/users", {"username": "Alice", "password": CLI_PASSWORD, "role": "viewer"}
        )
        duplicate = call(
            "POST", "/api/users", {"username": "alice", "password": CLI_PASSWORD, "role": "admin"}
        )
        bad_name = call(
            "POST",
            "/api/users",
            {"username": "<b>x</b>", "password": CLI_PASSWORD, "role": "viewer"},
        )
        bad_role = call(
            "POST", "/api/users", {"username": "bob", "password": CLI_PASSWORD, "role": "root"}
        )
        alice = created.json()["id"]
        promoted = call("PATCH", f"/api/users/{alice}", {"role": "dispatcher"})
        disabled = call("PATCH", f"/api/users/{alice}", {"disabled": True})
        missing = call("PATCH", "/api/users/999999", {"role": "viewer"})
        listed = call("GET", "/api/users").json()
        alice_login = httpx.post(
            f"{base_url}/api/auth/login", json={"username": "alice", "password": CLI_PASSWORD}
        )
        (own_id,) = [user["id"] for user in listed if user["role"] == "admin"]
        last_admin_demoted = call("PATCH", f"/api/users/{own_id}", {"role": "viewer"})
        last_admin_disabled = call("PATCH", f"/api/users/{own_id}", {"disabled": True})

    assert created.status_code == 201
    assert created.json()["username"] == "alice"
    assert set(created.json()) == {"id", "username", "role", "disabled", "created_at"}
    assert duplicate.status_code == 409
    assert bad_name.status_code == 422 and bad_role.status_code == 422
    assert promoted.json()["role"] == "dispatcher"
    assert disabled.json()["disabled"] is True
    assert missing.status_code == 404
    assert [user["username"] for user in listed if not user["username"].startswith("admin-")] == [
        "alice"
    ]
    assert alice_login.status_code == 401
    assert last_admin_demoted.status_code == last_admin_disabled.status_code == 409


def run_cli(monkeypatch: pytest.MonkeyPatch, database_url: str, stdin: str, *args: str) -> int:
    """vigie-hub ARGS in this process, on `database_url`, with `stdin` as standard input."""
    monkeypatch.setenv("VIGIE_DATABASE_URL", database_url)
    monkeypatch.delenv("VIGIE_CONFIG", raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return hub_cli(list(args))


def test_create_user_and_token_from_the_command_line(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    created = run_cli(
        monkeypatch, sqlite_url, CLI_PASSWORD + "\n", "create-user", "Dana", "--role", "dispatcher",
        "--password-stdin",
    )  # fmt: skip
    created_output = capsys.readouterr()
    again = run_cli(
        monkeypatch, sqlite_url, CLI_PASSWORD + "\n", "create-user", "dana", "--role", "viewer",
        "--password-stdin",
    )  # fmt: skip
    again_output = capsys.readouterr()
    weak = run_cli(
        monkeypatch, sqlite_url, "short\n", "create-user", "eve", "--role", "viewer",
        "--password-stdin",
    )  # fmt: skip
    weak_output = capsys.readouterr()
    token_code = run_cli(monkeypatch, sqlite_url, "", "create-token", "dana", "--name", "ci")
    token = capsys.readouterr().out.strip()
    unknown = run_cli(monkeypatch, sqlite_url, "", "create-token", "nobody")
    unknown_output = capsys.readouterr()

    assert created == 0
    assert created_output.out.strip() == "created user dana with role dispatcher"
    assert CLI_PASSWORD not in created_output.out + created_output.err
    assert again == 1 and "already exists" in again_output.err
    assert weak == 2 and "password" in weak_output.err and "short" not in weak_output.err
    assert token_code == 0 and token.startswith("vgt_")
    assert unknown == 1 and "nobody" in unknown_output.err
    with opened_database(sqlite_url) as database, database.sessions() as session:
        user = service.authenticate(session, "dana", CLI_PASSWORD)
        principal = service.principal_for_token(session, token)
    assert user is not None and user.role == Role.DISPATCHER.value
    assert principal is not None and principal.username == "dana"


def test_create_user_console_script_reads_the_password_from_stdin(sqlite_url: str) -> None:
    command = [str(Path(sys.executable).with_name("vigie-hub")), "create-user", "frank"]
    result = subprocess.run(
        [*command, "--role", "admin", "--password-stdin"],
        input=CLI_PASSWORD + "\n",
        env=subprocess_env({"VIGIE_DATABASE_URL": sqlite_url}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    refused = subprocess.run(
        [*command, "--role", "superuser", "--password-stdin"],
        input=CLI_PASSWORD + "\n",
        env=subprocess_env({"VIGIE_DATABASE_URL": sqlite_url}),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == "created user frank with role admin\n"
    assert CLI_PASSWORD not in result.stdout + result.stderr
    assert refused.returncode == 2 and "invalid choice" in refused.stderr
