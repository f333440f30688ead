"""Turn one received message into a committed outcome: stored, duplicate, or dead-lettered."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hub.events.schemas import StoredEvent
from hub.events.service import store_dead_letter, store_event
from hub.ingest.validation import validate_message
from vigie_contract import ContractError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestResult:
    """The committed outcome of one message."""

    outcome: Literal["stored", "duplicate", "rejected"]
    event: StoredEvent | None = None
    reason: str | None = None


def ingest_message(
    sessions: sessionmaker[Session],
    *,
    topic: str,
    payload: bytes,
    received_at: datetime,
    max_event_bytes: int,
) -> IngestResult:
    """Validate and store one message, committing before returning.

    Raises only when the database cannot be reached or written for a reason that may pass
    (connection lost, locked, ...): the caller retries later and must not acknowledge.
    """
    try:
        event = validate_message(topic, payload, max_event_bytes)
    except ContractError as exc:
        return _reject(sessions, topic, payload, received_at, exc.reason, exc.detail)
    try:
        with sessions.begin() as session:
            result = store_event(session, event, received_at=received_at)
    except (DataError, IntegrityError) as exc:
        # The database refuses these values (e.g. NUL in text): retrying can never succeed.
        return _reject(sessions, topic, payload, received_at, "unstorable", str(exc.orig))
    if result.duplicate:
        logger.info("duplicate event %s on %s: already stored", event.event_id, topic)
        return IngestResult(outcome="duplicate")
    return IngestResult(outcome="stored", event=result.event)


def _reject(
    sessions: sessionmaker[Session],
    topic: str,
    payload: bytes,
    received_at: datetime,
    reason: str,
    detail: str,
) -> IngestResult:
    with sessions.begin() as session:
        store_dead_letter(
            session,
            topic=topic,
            reason=reason,
            detail=detail,
            payload=payload,
            received_at=received_at,
        )
    # One line per rejection, logged once it is safely stored.
    logger.warning("rejected message on %s: %s (%s)", topic, reason, " ".join(detail.split()))
    return IngestResult(outcome="rejected", reason=reason)
