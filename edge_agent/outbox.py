"""A durable on-disk queue of messages to publish: committed before sending, deleted on PUBACK."""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from edge_agent.config import OutboxConfig

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    -- AUTOINCREMENT: ids never come back after deletes, so id order is insertion order.
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    retain INTEGER NOT NULL DEFAULT 0
)
"""


@dataclass(frozen=True)
class OutboxMessage:
    """One pending message, identified by its row id (insertion order)."""

    id: int
    topic: str
    payload: bytes
    retain: bool = False


class Outbox:
    """SQLite (WAL) outbox shared by the camera threads and the publisher; thread-safe.

    It is bounded by message count, total payload bytes and age: past a bound the oldest
    messages are dropped, logged and counted (`dropped`), so a long outage never fills the disk
    and the agent keeps running.
    """

    def __init__(self, path: Path, limits: OutboxConfig | None = None) -> None:
        self.path = Path(path)
        self.limits = limits or OutboxConfig()
        self.dropped = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed event survives a power cut, not only a process crash.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(outbox)")}
        if "retain" not in columns:  # an outbox written by an older agent
            self._db.execute("ALTER TABLE outbox ADD COLUMN retain INTEGER NOT NULL DEFAULT 0")

    def put(self, topic: str, payload: bytes, retain: bool = False) -> int | None:
        """Append a message and commit it to disk, dropping the oldest past a bound; its id.

        On a full disk the oldest messages make room; if even that fails, this message is
        dropped (logged, counted) and None returned: the cameras keep running either way.
        """
        with self._lock:
            for attempt in range(2):
                try:
                    cursor = self._db.execute(
                        "INSERT INTO outbox (topic, payload, retain) VALUES (?, ?, ?)",
                        (topic, payload, int(retain)),
                    )
                except sqlite3.OperationalError as exc:
                    if exc.sqlite_errorcode != sqlite3.SQLITE_FULL:
                        raise
                    if attempt == 0 and self._make_room():
                        continue
                    self.dropped += 1
                    logger.error(
                        "disk full: dropped the new message on %s (%d dropped since start)",
                        topic,
                        self.dropped,
                        extra={"dropped": 1},
                    )
                    return None
                self._enforce_size_bounds()
                return int(cursor.lastrowid)
        return None

    def _make_room(self) -> bool:
        """Drop the oldest quarter of the messages after a full disk (lock held); whether it did."""
        count = self._db.execute("SELECT count(*) FROM outbox").fetchone()[0]
        if count == 0:
            return False
        try:
            dropped = self._db.execute(
                "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?)",
                (max(count // 4, 1),),
            ).rowcount
            # Hand the freed WAL space back to the file system.
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_FULL:
                raise
            return False
        self._count_drop(dropped, "disk full")
        return dropped > 0

    def _enforce_size_bounds(self) -> None:
        """Drop the oldest messages until count and bytes are within bounds (lock held)."""
        count, size = self._db.execute(
            "SELECT count(*), coalesce(sum(length(payload)), 0) FROM outbox"
        ).fetchone()
        if count <= self.limits.max_messages and size <= self.limits.max_bytes:
            return
        excess_rows = max(count - self.limits.max_messages, 0)
        # Walk the oldest rows until enough bytes are freed (the newest message always stays).
        excess_bytes = size - self.limits.max_bytes
        cutoff = None
        freed = 0
        oldest = self._db.execute(
            "SELECT id, length(payload) FROM outbox ORDER BY id LIMIT ?", (count - 1,)
        ).fetchall()
        for index, (row_id, length) in enumerate(oldest):
            if index >= excess_rows and freed >= excess_bytes:
                break
            cutoff = row_id
            freed += length
        if cutoff is None:
            return
        dropped = self._db.execute("DELETE FROM outbox WHERE id <= ?", (cutoff,)).rowcount
        self._count_drop(
            dropped,
            f"outbox full ({count} messages, {size} bytes; limits {self.limits.max_messages} "
            f"messages, {self.limits.max_bytes} bytes)",
        )

    def expire(self) -> int:
        """Drop the messages older than the age bound; return how many were dropped."""
        with self._lock:
            dropped = self._db.execute(
                "DELETE FROM outbox WHERE created_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?)",
                (f"-{self.limits.max_age_s} seconds",),
            ).rowcount
            self._count_drop(dropped, f"outbox messages older than {self.limits.max_age_s:g} s")
            return dropped

    def _count_drop(self, dropped: int, why: str) -> None:
        if dropped <= 0:
            return
        self.dropped += dropped
        logger.warning(
            "%s: dropped the %d oldest undelivered message(s) (%d dropped since start)",
            why,
            dropped,
            self.dropped,
            extra={"dropped": dropped},
        )

    def pending(self, after_id: int = 0, limit: int = 100) -> list[OutboxMessage]:
        """Up to `limit` messages with an id above `after_id`, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, topic, payload, retain FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
                (after_id, limit),
            ).fetchall()
        return [
            OutboxMessage(id=row[0], topic=row[1], payload=bytes(row[2]), retain=bool(row[3]))
            for row in rows
        ]

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
