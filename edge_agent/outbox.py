"""A durable on-disk queue of messages to publish: committed before sending, deleted on PUBACK."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    -- AUTOINCREMENT: ids never come back after deletes, so id order is insertion order.
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
)
"""


@dataclass(frozen=True)
class OutboxMessage:
    """One pending message, identified by its row id (insertion order)."""

    id: int
    topic: str
    payload: bytes


class Outbox:
    """SQLite (WAL) outbox shared by the camera threads and the publisher; thread-safe."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed event survives a power cut, not only a process crash.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_SCHEMA)

    def put(self, topic: str, payload: bytes) -> int:
        """Append a message and commit it to disk; return its id."""
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO outbox (topic, payload) VALUES (?, ?)", (topic, payload)
            )
            return int(cursor.lastrowid)

    def pending(self, after_id: int = 0, limit: int = 100) -> list[OutboxMessage]:
        """Up to `limit` messages with an id above `after_id`, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, topic, payload FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
                (after_id, limit),
            ).fetchall()
        return [OutboxMessage(id=row[0], topic=row[1], payload=bytes(row[2])) for row in rows]

    def delete(self, message_id: int) -> None:
        """Forget a message once the broker has acknowledged it."""
        with self._lock:
            self._db.execute("DELETE FROM outbox WHERE id = ?", (message_id,))

    def count(self) -> int:
        """How many messages wait to be acknowledged."""
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def close(self) -> None:
        """Close the database; pending messages stay on disk for the next run."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
