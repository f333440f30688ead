"""Alembic environment: runs revisions on the connection `hub.db.migrate` hands over."""

from __future__ import annotations

from alembic import context

from hub.db.migrate import include_object
from hub.db.schema import Base

# hub.db.migrate always passes an open connection; the hub never migrates offline (SQL scripts).
connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things: later revisions use batch mode there.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    include_object=include_object,
)
with context.begin_transaction():
    context.run_migrations()
