"""vigie-hub migrate: bring the database's schema to a revision (head by default)."""

from __future__ import annotations

import argparse
import sys

from alembic.util.exc import CommandError
from sqlalchemy.exc import SQLAlchemyError

from hub.config import SettingsError, load_settings
from hub.db import migrate
from hub.db.engine import open_database

EXIT_FAILED = 1
EXIT_USAGE = 2


def add_migrate_command(commands: argparse._SubParsersAction) -> None:
    """Register `migrate` on vigie-hub's sub-command parser."""
    parser = commands.add_parser(
        "migrate", help="upgrade the database schema to the newest revision (or --revision)"
    )
    parser.add_argument(
        "--revision", default="head", help="target revision: head, base or a revision id"
    )
    parser.add_argument(
        "--downgrade",
        action="store_true",
        help="go back down to --revision (dropping what later revisions added)",
    )
    parser.set_defaults(handler=_migrate)


def _migrate(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        return _fail(str(exc), EXIT_USAGE)
    database = open_database(settings.database_url)
    try:
        if args.downgrade:
            migrate.downgrade(database.engine, args.revision)
        else:
            migrate.upgrade(database.engine, args.revision)
        revision = migrate.current_revision(database.engine)
    except CommandError as exc:
        return _fail(f"migration failed: {exc}", EXIT_FAILED)
    except SQLAlchemyError as exc:
        return _fail(f"database error: {exc}", EXIT_FAILED)
    finally:
        database.close()
    print(f"database at revision {revision or 'base (no hub tables)'}")
    return 0


def _fail(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code
