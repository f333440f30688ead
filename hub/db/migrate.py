"""Alembic migrations run from code: upgrade, downgrade and the current revision of a database."""

from __future__ import annotations

from pathlib import Path

import geoalchemy2  # noqa: F401 - lets reflection recognise geography/geometry columns
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection, Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
BASELINE_REVISION = "0001_baseline"
# Created by the hub before migrations existed (create_all): such a database is the baseline.
PRE_MIGRATION_MARKER_TABLE = "events"
# Database objects the models do not describe on purpose: PostGIS's own catalogue table and the
# generated PostGIS columns (with their GiST indexes), which only the migrations know.
UNMODELLED_TABLES = frozenset({"spatial_ref_sys"})
UNMODELLED_COLUMNS = frozenset({("events", "geog"), ("events", "geom"), ("incidents", "geog")})
UNMODELLED_INDEXES = frozenset({f"ix_{table}_{column}" for table, column in UNMODELLED_COLUMNS})
# PostgreSQL: every committed incident change is announced on this channel by a trigger, as
# {"id": incident id, "origin": application_name of the writer}, whichever code path made it.
INCIDENTS_CHANNEL = "vigie_incidents"
INCIDENT_NOTIFY_FUNCTION = "vigie_notify_incident"
# Table -> the column holding the incident id its rows belong to.
INCIDENT_NOTIFY_TABLES = {"incidents": "id", "incident_checklist": "incident_id"}
# Replicas starting together must not migrate at once: they queue on this advisory lock.
MIGRATION_LOCK_KEY = 0x5649474D  # "VIGM"


def create_incident_notify_triggers(connection: Connection) -> None:
    """On PostgreSQL, announce each inserted or updated incident (or checklist item) at commit."""
    if connection.dialect.name != "postgresql":
        return
    connection.exec_driver_sql(
        f"CREATE OR REPLACE FUNCTION {INCIDENT_NOTIFY_FUNCTION}() RETURNS trigger AS $$ BEGIN "
        f"PERFORM pg_notify('{INCIDENTS_CHANNEL}', json_build_object("
        "'id', (to_jsonb(NEW) ->> TG_ARGV[0])::bigint, "
        "'origin', current_setting('application_name'))::text); "
        "RETURN NULL; END $$ LANGUAGE plpgsql"
    )
    for table, id_column in INCIDENT_NOTIFY_TABLES.items():
        connection.exec_driver_sql(
            f"CREATE OR REPLACE TRIGGER {table}_notify AFTER INSERT OR UPDATE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {INCIDENT_NOTIFY_FUNCTION}('{id_column}')"
        )


def drop_incident_notify_triggers(connection: Connection) -> None:
    """Undo create_incident_notify_triggers."""
    if connection.dialect.name != "postgresql":
        return
    for table in INCIDENT_NOTIFY_TABLES:
        connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_notify ON {table}")
    connection.exec_driver_sql(f"DROP FUNCTION IF EXISTS {INCIDENT_NOTIFY_FUNCTION}()")


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database up to `revision` (stamping a pre-migration hub database first)."""
    with engine.begin() as connection:
        _lock_out_other_migrators(connection)
        if _created_before_migrations(connection):
            command.stamp(alembic_config(connection), BASELINE_REVISION)
            # The one part of the baseline that create_all never made.
            create_incident_notify_triggers(connection)
        command.upgrade(alembic_config(connection), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the database back to `revision` ("base" drops every hub table)."""
    with engine.begin() as connection:
        _lock_out_other_migrators(connection)
        command.downgrade(alembic_config(connection), revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for a database never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    """The newest revision the code ships."""
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(alembic_config(None)).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"migrations must have exactly one head, found {heads}")
    return heads[0]


def include_object(obj, name: str | None, type_: str, _reflected: bool, _compare_to) -> bool:
    """Alembic hook: leave out the database objects the models do not describe on purpose."""
    if type_ == "table":
        return name not in UNMODELLED_TABLES
    if type_ == "column":
        return (obj.table.name, name) not in UNMODELLED_COLUMNS
    if type_ == "index":
        return name not in UNMODELLED_INDEXES
    return True


def alembic_config(connection: Connection | None) -> Config:
    """Alembic's configuration for the hub's migrations, running on `connection`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # env.py runs on this connection, inside the caller's transaction.
    config.attributes["connection"] = connection
    return config


def _lock_out_other_migrators(connection: Connection) -> None:
    # Held until the migration's transaction ends; SQLite's own write lock serialises it there.
    if connection.dialect.name == "postgresql":
        connection.execute(
            sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
        )


def _created_before_migrations(connection: Connection) -> bool:
    inspector = sa.inspect(connection)
    return inspector.has_table(PRE_MIGRATION_MARKER_TABLE) and not inspector.has_table(
        "alembic_version"
    )
