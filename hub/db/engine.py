"""Engine and session factory for the configured database (SQLite or PostgreSQL via psycopg 3)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

# Long enough to ride out a concurrent writer (the ingest thread) without "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 5000
CONNECT_TIMEOUT_S = 5


@dataclass(frozen=True)
class Database:
    """An engine and the session factory bound to it.

    `origin` names this process's connections (PostgreSQL application_name), so a replica can
    tell its own database notifications from the other replicas'.
    """

    engine: Engine
    sessions: sessionmaker[Session]
    origin: str

    def answers(self) -> bool:
        """True when a trivial query succeeds right now."""
        try:
            with self.engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def open_database(url: str) -> Database:
    """Create the engine (no connection is made yet) and its session factory."""
    origin = f"vigie-hub-{uuid.uuid4().hex[:12]}"
    engine = create_db_engine(url, origin)
    return Database(
        engine=engine, sessions=sessionmaker(engine, expire_on_commit=False), origin=origin
    )


def create_db_engine(url: str, application_name: str = "vigie-hub") -> Engine:
    """An engine for a sqlite:// or postgresql:// URL, tuned for the hub's access pattern."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(parsed)
        sa.event.listen(engine, "connect", _configure_sqlite_connection)
        return engine
    # pre_ping turns a connection killed by a database restart into a retry, not an error;
    # the connect timeout keeps /healthz and ingest from hanging on an unreachable server.
    connect_args = {"application_name": application_name}
    if "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
    return sa.create_engine(_with_psycopg(parsed), pool_pre_ping=True, connect_args=connect_args)


def _with_psycopg(url: URL) -> URL:
    # A bare postgresql:// would pick psycopg2, which the hub does not ship.
    return url.set(drivername="postgresql+psycopg") if url.drivername == "postgresql" else url


def _configure_sqlite_connection(dbapi_connection, _record) -> None:
    # WAL lets the API read while the ingest thread writes; NORMAL sync is durable under WAL.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
