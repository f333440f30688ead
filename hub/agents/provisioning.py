"""vigie-hub add-agent: an agent's broker credentials, its ACL entry and its config block.

The password file uses the format Mosquitto 2 reads (`user:$7$iterations$salt$hash`, PBKDF2 with
SHA-512), so no Mosquitto tool is needed on the hub's machine. The ACL entry lets the agent write
only under its own `vigie/v1/<agent_id>/`, which is what makes the topic, and not the payload,
the trusted proof of who sent an event.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import re
import secrets
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from hub.config import SettingsError, load_settings
from vigie_contract.topics import TOPIC_ROOT

EXIT_FAILED = 1
EXIT_USAGE = 2
# mosquitto_passwd's own defaults: 12 random salt bytes, 101 PBKDF2 rounds.
PBKDF2_ITERATIONS = 101
SALT_BYTES = 12
PASSWORD_BYTES = 24
NEW_FILE_MODE = 0o640
AGENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class ProvisioningError(ValueError):
    """The agent cannot be provisioned; the message says why and what to do."""


@dataclass(frozen=True)
class ProvisionedAgent:
    """What the device needs: its config block (YAML) and its broker password (shown once)."""

    agent_id: str
    password: str
    config_block: str


def mosquitto_password_hash(password: str, salt: bytes, iterations: int = PBKDF2_ITERATIONS) -> str:
    """The `$7$` (PBKDF2-SHA512) hash of a password, as in a Mosquitto 2 password file."""
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    encoded_salt = base64.b64encode(salt).decode()
    return f"$7${iterations}${encoded_salt}${base64.b64encode(digest).decode()}"


def acl_entry(agent_id: str) -> str:
    """The ACL block letting `agent_id` write only under its own topic prefix."""
    return (
        f"# agent {agent_id} (vigie-hub add-agent)\n"
        f"user {agent_id}\n"
        f"topic write {TOPIC_ROOT}/{agent_id}/#\n"
    )


def check_agent_id(agent_id: str) -> str:
    """The agent id if it can name topics and a broker user (as the contract's Identifier)."""
    if not AGENT_ID_PATTERN.match(agent_id):
        raise ProvisioningError(
            f"invalid agent name {agent_id!r}: 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return agent_id


def set_password_entry(path: Path, agent_id: str, password_hash: str, replace: bool) -> None:
    """Add (or with replace, overwrite) the agent's line in a Mosquitto password file."""
    lines = _read_lines(path)
    prefix = f"{agent_id}:"
    existing = [line for line in lines if line.startswith(prefix)]
    if existing and not replace:
        raise ProvisioningError(
            f"agent {agent_id!r} already has broker credentials in {path}; "
            "pass --replace to give it a new password"
        )
    kept = [line for line in lines if not line.startswith(prefix)]
    _write_lines(path, [*kept, f"{prefix}{password_hash}"])


def ensure_acl_entry(path: Path, agent_id: str) -> bool:
    """Append the agent's ACL block unless the file already has one; True if it was added."""
    lines = _read_lines(path)
    if f"user {agent_id}" in (line.strip() for line in lines):
        return False
    block = acl_entry(agent_id).splitlines()
    # A blank line keeps each agent's block apart from the previous `user` section.
    separator = [""] if lines and lines[-1].strip() else []
    _write_lines(path, [*lines, *separator, *block])
    return True


def agent_config_block(agent_id: str, broker_url: str, ca_file: str | None) -> str:
    """The part of the agent's YAML config that names it and its broker account."""
    mqtt: dict[str, str] = {"url": broker_url, "username": agent_id, "protocol": "5"}
    if ca_file:
        mqtt["ca_file"] = ca_file
    return yaml.safe_dump({"agent_id": agent_id, "mqtt": mqtt}, sort_keys=False)


def provision_agent(
    agent_id: str,
    password_file: Path,
    acl_file: Path,
    broker_url: str,
    ca_file: str | None = None,
    replace: bool = False,
) -> ProvisionedAgent:
    """Create the agent's broker password and ACL entry; return what to put on the device."""
    check_agent_id(agent_id)
    password = secrets.token_urlsafe(PASSWORD_BYTES)
    password_hash = mosquitto_password_hash(password, secrets.token_bytes(SALT_BYTES))
    set_password_entry(password_file, agent_id, password_hash, replace)
    ensure_acl_entry(acl_file, agent_id)
    return ProvisionedAgent(agent_id, password, agent_config_block(agent_id, broker_url, ca_file))


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ProvisioningError(f"cannot read {path}: {exc.strerror or exc}") from None


def _write_lines(path: Path, lines: list[str]) -> None:
    """Replace the file atomically, keeping its mode and owner (the broker must still read it)."""
    try:
        previous = path.stat()
    except FileNotFoundError:
        previous = None
    try:
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as exc:
        raise ProvisioningError(f"cannot write next to {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        os.chmod(temporary, previous.st_mode & 0o7777 if previous else NEW_FILE_MODE)
        if previous is not None and os.geteuid() == 0:
            os.chown(temporary, previous.st_uid, previous.st_gid)
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise ProvisioningError(f"cannot write {path}: {exc.strerror or exc}") from None


def add_agent_command(commands: argparse._SubParsersAction) -> None:
    """Register add-agent on vigie-hub's sub-command parser."""
    parser = commands.add_parser(
        "add-agent",
        help="create an agent's broker password and ACL entry; print its config block",
    )
    parser.add_argument("name", help="the agent id (letters, digits, '.', '_', '-')")
    parser.add_argument(
        "--password-file",
        type=Path,
        help="Mosquitto password file (default: VIGIE_MQTT_PASSWORD_FILE)",
    )
    parser.add_argument(
        "--acl-file", type=Path, help="Mosquitto ACL file (default: VIGIE_MQTT_ACL_FILE)"
    )
    parser.add_argument(
        "--broker-url", help="the broker URL agents use (default: VIGIE_AGENT_MQTT_URL)"
    )
    parser.add_argument("--ca-file", help="CA path on the device, when the broker's CA is private")
    parser.add_argument(
        "--replace", action="store_true", help="give an existing agent a new password"
    )
    parser.set_defaults(handler=_add_agent)


def _add_agent(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        return _fail(str(exc), EXIT_USAGE)
    password_file = args.password_file or settings.mqtt_password_file
    acl_file = args.acl_file or settings.mqtt_acl_file
    if password_file is None or acl_file is None:
        return _fail(
            "name the broker's files: --password-file and --acl-file "
            "(or VIGIE_MQTT_PASSWORD_FILE and VIGIE_MQTT_ACL_FILE)",
            EXIT_USAGE,
        )
    try:
        agent = provision_agent(
            args.name,
            password_file,
            acl_file,
            args.broker_url or settings.agent_mqtt_url,
            args.ca_file,
            args.replace,
        )
    except ProvisioningError as exc:
        return _fail(str(exc), EXIT_FAILED)
    print(_instructions(agent, password_file, acl_file))
    return 0


def _instructions(agent: ProvisionedAgent, password_file: Path, acl_file: Path) -> str:
    return (
        f"# Agent {agent.agent_id}: credentials added to {password_file}, ACL to {acl_file}.\n"
        "# Reload the broker so that it reads them (Mosquitto: SIGHUP, e.g.\n"
        "#   docker compose kill -s SIGHUP mosquitto   or   systemctl reload mosquitto).\n"
        "# On the device, in /etc/vigie/agent.yaml:\n"
        f"{agent.config_block}"
        "# and in /etc/vigie/agent.env (mode 600); the password is shown only this once:\n"
        f"VIGIE_AGENT_MQTT__PASSWORD={agent.password}"
    )


def _fail(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code
