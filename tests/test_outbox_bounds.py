"""The outbox's bounds: past a count, size or age limit the oldest messages are dropped, logged
and counted, and the outbox keeps working."""

from __future__ import annotations

import logging
import sqlite3

from edge_agent.config import OutboxConfig
from edge_agent.outbox import Outbox


def test_past_the_message_limit_the_oldest_are_dropped_and_logged(tmp_path, caplog):
    limits = OutboxConfig(max_messages=10)
    with Outbox(tmp_path / "o.sqlite3", limits) as outbox, caplog.at_level(logging.WARNING):
        for n in range(14):
            outbox.put("t", f"event {n}".encode())
        assert [m.payload for m in outbox.pending()] == [
            f"event {n}".encode() for n in range(4, 14)
        ]
        assert outbox.dropped == 4
    drops = [r.getMessage() for r in caplog.records if r.name == "edge_agent.outbox"]
    assert len(drops) == 4
    assert drops[0] == (
        "outbox full (11 messages, 78 bytes; limits 10 messages, 500000000 bytes): "
        "dropped the 1 oldest undelivered message(s) (1 dropped since start)"
    )


def test_past_the_byte_limit_enough_old_messages_go(tmp_path):
    limits = OutboxConfig(max_bytes=1_000_000)
    with Outbox(tmp_path / "o.sqlite3", limits) as outbox:
        for n in range(5):
            outbox.put("t", bytes([n]) * 300_000)
        # 1.5 MB put, 1 MB allowed: the two oldest go, the three newest (900 kB) stay.
        assert [m.payload[0] for m in outbox.pending()] == [2, 3, 4]
        assert outbox.dropped == 2


def test_a_message_larger_than_the_limit_is_kept_alone(tmp_path):
    with Outbox(tmp_path / "o.sqlite3", OutboxConfig(max_bytes=1_000_000)) as outbox:
        outbox.put("t", b"small")
        outbox.put("t", b"x" * 1_200_000)
        assert [len(m.payload) for m in outbox.pending()] == [1_200_000]


def test_expired_messages_are_dropped_and_counted(tmp_path, caplog):
    path = tmp_path / "o.sqlite3"
    with Outbox(path, OutboxConfig(max_age_s=3600)) as outbox:
        old = outbox.put("t", b"from yesterday")
        outbox.put("t", b"fresh")
        # Age one message by rewriting its stored time, as a day-long outage would.
        with sqlite3.connect(path) as db:
            db.execute(
                "UPDATE outbox SET created_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 day') "
                "WHERE id = ?",
                (old,),
            )
        with caplog.at_level(logging.WARNING):
            assert outbox.expire() == 1
        assert [m.payload for m in outbox.pending()] == [b"fresh"]
        assert outbox.dropped == 1
    assert "outbox messages older than 3600 s: dropped the 1 oldest" in caplog.text


def test_retained_flag_is_kept(tmp_path):
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        outbox.put("status", b"offline", retain=True)
        outbox.put("event", b"{}")
        assert [m.retain for m in outbox.pending()] == [True, False]


def test_an_outbox_from_an_older_agent_gains_the_retain_column(tmp_path):
    path = tmp_path / "o.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, "
            "payload BLOB NOT NULL, created_at TEXT NOT NULL DEFAULT "
            "(strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))"
        )
        db.execute("INSERT INTO outbox (topic, payload) VALUES ('t', x'01')")
    with Outbox(path) as outbox:
        assert [(m.payload, m.retain) for m in outbox.pending()] == [(b"\x01", False)]
