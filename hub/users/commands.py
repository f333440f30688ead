"""vigie-hub create-user and create-token: manage accounts from the hub's own command line."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from hub.config import SettingsError, load_settings
from hub.db.engine import open_database
from hub.db.schema import create_schema
from hub.users import service
from hub.users.roles import Role

EXIT_FAILED = 1
EXIT_USAGE = 2
DEFAULT_TOKEN_NAME = "cli"


def add_user_commands(commands: argparse._SubParsersAction) -> None:
    """Register create-user and create-token on vigie-hub's sub-command parser."""
    create_user = commands.add_parser(
        "create-user",
        help="add a user; the password comes from --password-stdin or is prompted for",
    )
    create_user.add_argument("username", help="the login name (letters, digits, '.', '_', '-')")
    create_user.add_argument("--role", required=True, choices=[role.value for role in Role])
    create_user.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input instead of prompting",
    )
    create_user.set_defaults(handler=_create_user)

    create_token = commands.add_parser(
        "create-token", help="print a new API token acting as USER (keep it: it is shown once)"
    )
    create_token.add_argument("username", help="the user the token acts as")
    create_token.add_argument("--name", default=DEFAULT_TOKEN_NAME, help="a label for the token")
    create_token.set_defaults(handler=_create_token)


def _create_user(args: argparse.Namespace) -> int:
    try:
        username = service.normalize_username(args.username)
        password = service.check_password(_read_password(args.password_stdin))
    except ValueError as exc:
        return _fail(str(exc), EXIT_USAGE)

    def create(session: Session) -> str:
        user = service.create_user(session, username, password, Role(args.role), service.utc_now())
        return f"created user {user.username} with role {user.role}"

    return _run_in_database(create)


def _create_token(args: argparse.Namespace) -> int:
    def create(session: Session) -> str:
        user = service.find_user(session, args.username)
        if user.disabled:
            raise service.UserNotFound(f"user {user.username!r} is disabled")
        _token, secret = service.create_api_token(session, user, args.name, service.utc_now())
        return secret

    return _run_in_database(create)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != password:
        raise ValueError("the two passwords differ")
    return password


def _run_in_database(action: Callable[[Session], str]) -> int:
    """Run `action` in one committed transaction and print what it returns."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        return _fail(str(exc), EXIT_USAGE)
    try:
        with _opened(settings.database_url) as sessions, sessions.begin() as session:
            output = action(session)
    except (service.UserExists, service.UserNotFound) as exc:
        return _fail(str(exc), EXIT_FAILED)
    except SQLAlchemyError as exc:
        return _fail(f"database error: {exc}", EXIT_FAILED)
    print(output)
    return 0


@contextmanager
def _opened(database_url: str) -> Iterator[sessionmaker[Session]]:
    database = open_database(database_url)
    try:
        create_schema(database.engine)
        yield database.sessions
    finally:
        database.close()


def _fail(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code
