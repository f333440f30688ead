"""The on-disk outbox: insertion order, deletion on acknowledgement, persistence across re-open."""

from __future__ import annotations

import sqlite3
import threading

from edge_agent.outbox import Outbox, OutboxMessage


def test_messages_come_back_in_insertion_order(tmp_path):
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        ids = [outbox.put(f"vigie/v1/a/cam{n % 3}/event", f"event {n}".encode()) for n in range(10)]

        assert ids == sorted(ids)
        assert [m.payload for m in outbox.pending()] == [f"event {n}".encode() for n in range(10)]
        assert outbox.count() == 10


def test_pending_pages_after_an_id(tmp_path):
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        ids = [outbox.put("t", bytes([n])) for n in range(6)]

        first_page = outbox.pending(limit=4)
        second_page = outbox.pending(after_id=first_page[-1].id, limit=4)

        assert [m.id for m in first_page] == ids[:4]
        assert [m.id for m in second_page] == ids[4:]


def test_delete_removes_only_that_message(tmp_path):
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        first, second, third = (outbox.put("t", payload) for payload in (b"1", b"2", b"3"))
        outbox.delete(second)

        assert [m.id for m in outbox.pending()] == [first, third]
        assert outbox.count() == 2


def test_ids_are_never_reused_after_deletes(tmp_path):
    # Reusing the id of a deleted last row would put a new message before older pending ones
    # in the publisher's "after id" paging.
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        outbox.put("t", b"old")
        last = outbox.put("t", b"acknowledged")
        outbox.delete(last)
        assert outbox.put("t", b"new") > last


def test_pending_messages_survive_a_reopen_in_order(tmp_path):
    path = tmp_path / "state" / "outbox.sqlite3"
    with Outbox(path) as outbox:
        for n in range(5):
            outbox.put(f"vigie/v1/a/c/event{n}", f'{{"n": {n}}}'.encode())
        outbox.delete(outbox.pending(limit=1)[0].id)

    with Outbox(path) as reopened:
        assert [(m.topic, m.payload) for m in reopened.pending()] == [
            (f"vigie/v1/a/c/event{n}", f'{{"n": {n}}}'.encode()) for n in range(1, 5)
        ]
        assert reopened.put("t", b"after restart") > reopened.pending()[-2].id


def test_put_is_committed_before_it_returns(tmp_path):
    path = tmp_path / "outbox.sqlite3"
    with Outbox(path) as outbox:
        message_id = outbox.put("vigie/v1/a/c/event", b"payload")
        # Another connection (another process after a crash) sees the row at once.
        other = sqlite3.connect(path)
        try:
            rows = other.execute("SELECT id, topic, payload FROM outbox").fetchall()
            journal_mode = other.execute("PRAGMA journal_mode").fetchone()[0]
        finally:
            other.close()
    assert rows == [(message_id, "vigie/v1/a/c/event", b"payload")]
    assert journal_mode == "wal"


def test_binary_payloads_round_trip(tmp_path):
    payload = bytes(range(256)) * 4
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        outbox.put("vigie/v1/a/c/snapshot/1", payload)
        assert outbox.pending() == [
            OutboxMessage(id=1, topic="vigie/v1/a/c/snapshot/1", payload=payload)
        ]


def test_concurrent_writers_lose_nothing(tmp_path):
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:

        def write(camera: str) -> None:
            for n in range(50):
                outbox.put(f"vigie/v1/a/{camera}/event", f"{camera}-{n}".encode())

        writers = [threading.Thread(target=write, args=(f"cam{i}",)) for i in range(4)]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join()

        messages = outbox.pending(limit=1000)
        assert len(messages) == 200
        for i in range(4):
            own = [m.payload for m in messages if m.topic == f"vigie/v1/a/cam{i}/event"]
            assert own == [f"cam{i}-{n}".encode() for n in range(50)]
