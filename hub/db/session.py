"""FastAPI dependency handing a route one session of the hub's database."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from sqlalchemy.orm import Session

from hub.db.engine import Database


def session_dependency(database: Database) -> Callable[[], Iterator[Session]]:
    """A dependency yielding a session of `database`, closed after the request."""

    def get_session() -> Iterator[Session]:
        with database.sessions() as session:
            yield session

    return get_session
