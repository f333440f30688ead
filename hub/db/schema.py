"""The hub's full table metadata, and bringing a database's schema up to date."""

from __future__ import annotations

from sqlalchemy.engine import Engine

import hub.events.models  # noqa: F401 - registers the events tables on Base.metadata
from hub.access import models as access_models  # noqa: F401 - registers the access log
from hub.agents import models as agents_models  # noqa: F401 - registers the agents table
from hub.audit import models as audit_models  # noqa: F401 - registers the audit log
from hub.cameras import models as cameras_models  # noqa: F401 - registers the cameras table
from hub.db.base import Base  # noqa: F401 - re-exported with every table registered on it
from hub.incidents import models as incidents_models  # noqa: F401 - registers incident tables
from hub.playbooks import models as playbooks_models  # noqa: F401 - registers the playbooks
from hub.snapshots import models as snapshots_models  # noqa: F401 - registers the snapshots table
from hub.users import models as users_models  # noqa: F401 - registers the users tables


def create_schema(engine: Engine) -> None:
    """Run every pending migration (`upgrade head`), so the schema is the code's."""
    # Imported here: the migrations' env.py imports this module for Base.metadata.
    from hub.db.migrate import upgrade

    upgrade(engine)
