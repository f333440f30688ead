"""Events: the lat/lon index also holds the id on PostgreSQL, for ids-first spatial pages.

Revision ID: 0003_events_lat_lon_id
Revises: 0002_privacy
Create Date: 2026-11-26 14:00:00

A radius or box page first picks its ids from this index alone (an index-only scan), then reads
only those rows. SQLite's index already holds the id (the rowid): nothing changes there. The
index is rebuilt inside the migration's transaction, which holds off event writes meanwhile
(about 3 s per 1,000,000 stored events on 2 cores).
"""

from __future__ import annotations

from alembic import op

revision = "0003_events_lat_lon_id"
down_revision = "0002_privacy"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """On PostgreSQL, rebuild ix_events_lat_lon as (lat, lon) INCLUDE (id)."""
    _rebuild_lat_lon_index(include=["id"])


def downgrade() -> None:
    """On PostgreSQL, rebuild ix_events_lat_lon as (lat, lon) alone."""
    _rebuild_lat_lon_index(include=[])


def _rebuild_lat_lon_index(include: list[str]) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_events_lat_lon", table_name="events")
    op.create_index(
        "ix_events_lat_lon", "events", ["lat", "lon"], unique=False, postgresql_include=include
    )
