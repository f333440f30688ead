"""Create the hub's tables (until migrations take over)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

import hub.events.models  # noqa: F401 - registers the events tables on Base.metadata
from hub.db.base import Base


def create_schema(engine: Engine) -> None:
    """Create every missing table; on PostgreSQL enable PostGIS first for the geography column."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
        Base.metadata.create_all(connection)
