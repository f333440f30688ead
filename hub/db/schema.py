"""Create the hub's tables (until migrations take over)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

import hub.events.models  # noqa: F401 - registers the events tables on Base.metadata
from hub.agents import models as agents_models  # noqa: F401 - registers the agents table
from hub.audit import models as audit_models  # noqa: F401 - registers the audit log
from hub.cameras import models as cameras_models  # noqa: F401 - registers the cameras table
from hub.db.base import Base
from hub.incidents import models as incidents_models  # noqa: F401 - registers incident tables
from hub.playbooks import models as playbooks_models  # noqa: F401 - registers the playbooks
from hub.snapshots import models as snapshots_models  # noqa: F401 - registers the snapshots table
from hub.users import models as users_models  # noqa: F401 - registers the users tables


def create_schema(engine: Engine) -> None:
    """Create every missing table; on PostgreSQL enable PostGIS first for the geography column."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
        Base.metadata.create_all(connection)
