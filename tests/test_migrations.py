"""Alembic migrations: `upgrade head` gives exactly the models' schema on PostGIS and SQLite."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from hub.db import migrate
from hub.db.engine import open_database
from hub.db.schema import Base


def _schema_diff(engine: sa.Engine) -> list:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "include_object": migrate.include_object},
        )
        return compare_metadata(context, Base.metadata)


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_upgrade_head_gives_the_models_schema_and_downgrade_base_removes_it(database_url):
    """Empty database: upgrade head leaves no diff with the models; downgrade base drops all."""
    database = open_database(database_url)
    try:
        assert migrate.current_revision(database.engine) is None
        migrate.upgrade(database.engine)
        assert migrate.current_revision(database.engine) == migrate.head_revision()
        assert _schema_diff(database.engine) == []
        assert set(Base.metadata.tables) <= _tables(database.engine)

        migrate.downgrade(database.engine, "base")
        assert migrate.current_revision(database.engine) is None
        assert not set(Base.metadata.tables) & _tables(database.engine)
    finally:
        database.close()


@pytest.mark.postgis
def test_postgis_points_are_generated_and_indexed(postgis_url):
    """The PostGIS-only part: generated points follow lat/lon and each has a GiST index."""
    database = open_database(postgis_url)
    try:
        migrate.upgrade(database.engine)
        with database.engine.connect() as connection:
            indexes = connection.execute(
                sa.text("SELECT indexname, indexdef FROM pg_indexes")
            ).all()
            generated = connection.execute(
                sa.text(
                    "SELECT table_name || '.' || column_name, generation_expression "
                    "FROM information_schema.columns WHERE is_generated = 'ALWAYS'"
                )
            ).all()
        definitions = dict(indexes)
        assert "USING gist (geog)" in definitions["ix_events_geog"]
        assert "USING gist (geom)" in definitions["ix_events_geom"]
        assert "USING gist (geog)" in definitions["ix_incidents_geog"]
        expressions = dict(generated)
        assert set(expressions) == {"events.geog", "events.geom", "incidents.geog"}
        assert all("st_makepoint(lon, lat)" in expr for expr in expressions.values())
    finally:
        database.close()


@pytest.mark.postgis
def test_events_lat_lon_index_holds_the_id_from_0003_on(postgis_url):
    """Ids-first spatial pages need the id in ix_events_lat_lon; downgrading 0003 removes it.

    Alembic's comparison leaves INCLUDE columns out, so this checks what the other test cannot.
    """
    database = open_database(postgis_url)
    try:
        migrate.upgrade(database.engine)
        upgraded = _index_definition(database.engine, "ix_events_lat_lon")
        migrate.downgrade(database.engine, "0002_privacy")
        downgraded = _index_definition(database.engine, "ix_events_lat_lon")
    finally:
        database.close()
    assert upgraded.endswith("USING btree (lat, lon) INCLUDE (id)")
    assert downgraded.endswith("USING btree (lat, lon)")


def _index_definition(engine: sa.Engine, name: str) -> str:
    with engine.connect() as connection:
        return connection.execute(
            sa.text("SELECT indexdef FROM pg_indexes WHERE indexname = :name"), {"name": name}
        ).scalar_one()


def test_upgrade_is_idempotent(sqlite_url):
    """Running upgrade head twice (every hub start-up does) changes nothing."""
    database = open_database(sqlite_url)
    try:
        migrate.upgrade(database.engine)
        migrate.upgrade(database.engine)
        assert migrate.current_revision(database.engine) == migrate.head_revision()
    finally:
        database.close()


def test_a_database_created_before_migrations_is_adopted_as_baseline(database_url):
    """Baseline tables without alembic_version (the old create_all) are stamped, not recreated."""
    database = open_database(database_url)
    try:
        migrate.upgrade(database.engine, migrate.BASELINE_REVISION)
        with database.engine.begin() as connection:
            connection.execute(sa.text("DROP TABLE alembic_version"))
        migrate.upgrade(database.engine)
        assert migrate.current_revision(database.engine) == migrate.head_revision()
        assert _schema_diff(database.engine) == []
    finally:
        database.close()


def test_migrate_cli_upgrades_and_reports_the_revision(sqlite_url):
    """`vigie-hub migrate` upgrades to head; `--downgrade --revision base` drops every table."""
    env_url = {"VIGIE_DATABASE_URL": sqlite_url}
    upgraded = _run_cli(["migrate"], env_url)
    assert upgraded.returncode == 0, upgraded.stderr
    assert migrate.head_revision() in upgraded.stdout

    downgraded = _run_cli(["migrate", "--downgrade", "--revision", "base"], env_url)
    assert downgraded.returncode == 0, downgraded.stderr
    engine = sa.create_engine(sqlite_url)
    try:
        assert not set(Base.metadata.tables) & _tables(engine)
    finally:
        engine.dispose()


def test_migrate_cli_reports_an_unknown_revision(sqlite_url):
    """An unknown target revision is a clear error and exit status 1, not a traceback."""
    result = _run_cli(
        ["migrate", "--revision", "no_such_revision"], {"VIGIE_DATABASE_URL": sqlite_url}
    )
    assert result.returncode == 1
    assert "no_such_revision" in result.stderr
    assert "Traceback" not in result.stderr


def _run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
