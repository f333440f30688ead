"""Every replica learns of every stored event and incident change: PostgreSQL LISTEN/NOTIFY.

Events: each transaction that stores events NOTIFYs, at commit, the ids it stored and the highest
id before them (events.service.notify_stored), and writers commit in id order
(events.service.lock_event_stream), so a replica that reads "every id above the last one I handed
on" never skips one, whichever replica stored it. A replica's own batches need no read: its
ingest hands them over (`offer`), and they are handed on when the announcement says nothing was
stored between the last id handed on and the batch.

Incidents: a trigger announces each committed incident change with the writer's origin
(hub.db.migrate.INCIDENTS_CHANNEL); a replica already pushed its own changes to its clients, so
it reads and hands on only the other replicas' ones.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from hub.db.engine import Database
from hub.db.migrate import INCIDENTS_CHANNEL
from hub.events.models import Event
from hub.events.schemas import StoredEvent
from hub.events.service import EVENTS_CHANNEL, list_events
from hub.incidents.schemas import IncidentOut
from hub.incidents.service import IncidentFilters, list_incidents

logger = logging.getLogger(__name__)

READ_PAGE_SIZE = 500
# How often the listening thread looks up from waiting to see whether it must stop.
POLL_INTERVAL_S = 0.5
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 10.0
STOP_TIMEOUT_S = 10.0
# How long an announcement of this process's own batch waits for ingest to hand the batch over
# (ingest hands it over just after the commit that sent the announcement); then it is read.
OWN_BATCH_WAIT_S = 1.0


@dataclass(frozen=True)
class Announcement:
    """A committed batch of events: its writer and the ids it stored, (after, last]."""

    origin: str
    after: int
    last: int


def parse_announcement(payload: str) -> Announcement | None:
    """The announcement in a notification's payload, or None when it is not one."""
    try:
        announced = json.loads(payload)
        return Announcement(
            str(announced["origin"]), int(announced["after"]), int(announced["last"])
        )
    except (ValueError, KeyError, TypeError):
        return None


class StoredEventRelay:
    """Hands every event committed by any replica to `deliver`, in id order, and every incident
    change committed by another replica to `deliver_incident`, from a thread."""

    def __init__(
        self,
        database: Database,
        deliver: Callable[[list[StoredEvent]], None],
        deliver_incident: Callable[[IncidentOut], None] | None = None,
    ) -> None:
        self._database = database
        self._deliver = deliver
        self._deliver_incident = deliver_incident
        self._stopping = threading.Event()
        self._listening = threading.Event()
        self._last_id: int | None = None
        # Events this process committed and ingest handed over, not yet handed on, by id.
        self._own_events: dict[int, StoredEvent] = {}
        self._own_batch_arrived = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="vigie-relay", daemon=True)

    def start(self) -> None:
        """Start listening in the background."""
        self._thread.start()

    def wait_listening(self, timeout: float) -> bool:
        """Block until listening (True) or until timeout seconds have passed (False)."""
        return self._listening.wait(timeout)

    def offer(self, events: list[StoredEvent]) -> None:
        """Hand over events this process just committed, in id order, sparing their read."""
        with self._own_batch_arrived:
            self._own_events.update((event.id, event) for event in events)
            self._own_batch_arrived.notify_all()

    def stop(self) -> None:
        """Stop listening and wait for the thread."""
        self._stopping.set()
        self._thread.join(STOP_TIMEOUT_S)

    def _run(self) -> None:
        delay = RETRY_FIRST_S
        while not self._stopping.is_set():
            try:
                self._listen()
            except (SQLAlchemyError, psycopg.Error) as exc:
                logger.warning("event relay lost the database (%s), retrying in %.1f s", exc, delay)
                self._stopping.wait(delay)
                delay = min(delay * 2, RETRY_MAX_S)

    def _listen(self) -> None:
        raw = self._database.engine.raw_connection()
        connection = raw.driver_connection
        # This connection only waits for notifications: keep it out of the pool for good.
        raw.detach()
        try:
            connection.autocommit = True
            connection.execute(f"LISTEN {EVENTS_CHANNEL}")
            if self._deliver_incident is not None:
                connection.execute(f"LISTEN {INCIDENTS_CHANNEL}")
            if self._last_id is None:
                self._last_id = self._highest_id()
            self._listening.set()
            # Whatever was committed while (re)connecting is read now, then on each notification.
            self._catch_up()
            while not self._stopping.is_set():
                for notification in connection.notifies(timeout=POLL_INTERVAL_S):
                    if notification.channel == INCIDENTS_CHANNEL:
                        self._relay_incident(notification.payload)
                        continue
                    self._hand_on(parse_announcement(notification.payload))
        finally:
            self._listening.clear()
            connection.close()

    def _highest_id(self) -> int:
        with self._database.sessions() as session:
            return session.scalar(sa.select(sa.func.coalesce(sa.func.max(Event.id), 0)))

    def _hand_on(self, announced: Announcement | None) -> None:
        if announced is not None and announced.last <= self._last_id:
            return
        own = self._own_batch(announced) if announced is not None else None
        if own is None:
            self._catch_up()
            return
        self._deliver(own)
        self._advance(own[-1].id)

    def _own_batch(self, announced: Announcement) -> list[StoredEvent] | None:
        # Only when nothing lies between what was handed on and this batch.
        if announced.origin != self._database.origin or announced.after != self._last_id:
            return None
        with self._own_batch_arrived:
            if not self._own_batch_arrived.wait_for(
                lambda: announced.last in self._own_events, OWN_BATCH_WAIT_S
            ):
                return None
            # The batch's transaction held the writers' lock: every id in the range is its own.
            batch = sorted(
                key for key in self._own_events if announced.after < key <= announced.last
            )
            return [self._own_events.pop(key) for key in batch]

    def _catch_up(self) -> None:
        while True:
            with self._database.sessions() as session:
                page = list_events(session, READ_PAGE_SIZE, self._last_id)
            if page:
                self._deliver(page)
                self._advance(page[-1].id)
            if len(page) < READ_PAGE_SIZE:
                return

    def _advance(self, last_id: int) -> None:
        self._last_id = last_id
        with self._own_batch_arrived:
            # Events read from the database meanwhile are handed on already.
            for handed_on in [key for key in self._own_events if key <= last_id]:
                del self._own_events[handed_on]

    def _relay_incident(self, payload: str) -> None:
        try:
            announced = json.loads(payload)
            incident_id, origin = int(announced["id"]), str(announced["origin"])
        except (ValueError, KeyError, TypeError):
            logger.warning("ignoring a malformed incident notification: %.200s", payload)
            return
        if origin == self._database.origin or self._deliver_incident is None:
            return
        with self._database.sessions() as session:
            # The incident as listed (with its checklist), not its events: the newest at or
            # below the id, which is that incident unless it is gone.
            page = list_incidents(session, IncidentFilters(), limit=1, before_id=incident_id + 1)
        if page.items and page.items[0].id == incident_id:
            self._deliver_incident(page.items[0])
