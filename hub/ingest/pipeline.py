"""Turn received messages into committed outcomes: stored, duplicate, or dead-lettered.

A batch of messages is validated, then stored in one transaction (one multi-row INSERT per
table); the caller acknowledges them only after that commit.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hub.agents.service import record_agent_status, record_heartbeat
from hub.cameras.service import record_camera_status
from hub.events.schemas import StoredEvent
from hub.events.service import (
    Rejection,
    event_identities,
    lock_event_stream,
    notify_stored,
    store_dead_letters,
    store_events,
)
from hub.incidents.grouping import DEFAULT_GROUPING, GroupingPolicy
from hub.incidents.intake import file_stored_events
from hub.incidents.schemas import IncidentOut
from hub.ingest.frigate import FrigateSettings, frigate_event
from hub.ingest.validation import (
    SnapshotMessage,
    TimeBounds,
    ValidMessage,
    check_capture_time,
    validate_message,
)
from hub.snapshots.service import store_snapshots
from vigie_contract import AgentStatusV1, CameraStatusV1, ContractError, EventV1, HeartbeatV1

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReceivedMessage:
    """One MQTT message as it arrived."""

    topic: str
    payload: bytes
    received_at: datetime


@dataclass(frozen=True)
class IngestResult:
    """The committed outcome of one message."""

    outcome: Literal["stored", "duplicate", "rejected"]
    event: StoredEvent | None = None
    reason: str | None = None
    detail: str | None = None
    # Incidents the message opened, joined or changed, to push to WebSocket clients.
    incidents: tuple[IncidentOut, ...] = ()


@dataclass(frozen=True)
class IngestOptions:
    """What ingest needs besides the messages."""

    max_event_bytes: int
    grouping: GroupingPolicy = DEFAULT_GROUPING
    # None: any capture time is accepted (tests replaying fixed dates).
    time_bounds: TimeBounds | None = None
    # Set when the site ingests a Frigate NVR: messages on its topic are translated.
    frigate: FrigateSettings | None = None


Checked = ValidMessage | ContractError


def ingest_batch(
    sessions: sessionmaker[Session], messages: Sequence[ReceivedMessage], options: IngestOptions
) -> list[IngestResult]:
    """Validate and store messages in one transaction; one result per message, in order.

    Raises only when the database cannot be reached or written for a reason that may pass
    (connection lost, locked, ...): the caller retries later and must not acknowledge.
    """
    checked = [_validate(message, options) for message in messages]
    try:
        with sessions.begin() as session:
            results = _store(session, messages, checked, options.grouping)
    except (DataError, IntegrityError) as exc:
        # The database refuses some value (e.g. a constraint the contract does not know):
        # retrying can never succeed. Store one at a time so only the culprit is dead-lettered.
        if len(messages) == 1:
            return [_reject_unstorable(sessions, messages[0], str(exc.orig))]
        return [
            result for message in messages for result in ingest_batch(sessions, [message], options)
        ]
    _log(messages, results)
    return results


def ingest_message(
    sessions: sessionmaker[Session],
    *,
    topic: str,
    payload: bytes,
    received_at: datetime,
    max_event_bytes: int,
    grouping: GroupingPolicy = DEFAULT_GROUPING,
) -> IngestResult:
    """Validate and store one message (with its incident), committing before returning."""
    options = IngestOptions(max_event_bytes=max_event_bytes, grouping=grouping)
    return ingest_batch(sessions, [ReceivedMessage(topic, payload, received_at)], options)[0]


def _validate(message: ReceivedMessage, options: IngestOptions) -> Checked:
    try:
        if options.frigate is not None and message.topic == options.frigate.topic:
            event = frigate_event(message.payload, options.frigate, options.max_event_bytes)
            # The NVR's clock is as fallible as an agent's: the same bounds apply.
            if options.time_bounds is not None:
                check_capture_time(event.captured_at, message.received_at, options.time_bounds)
            return event
        return validate_message(
            message.topic,
            message.payload,
            options.max_event_bytes,
            message.received_at,
            options.time_bounds,
        )
    except ContractError as exc:
        return exc


def _store(
    session: Session,
    messages: Sequence[ReceivedMessage],
    checked: Sequence[Checked],
    grouping: GroupingPolicy,
) -> list[IngestResult]:
    results: dict[int, IngestResult] = {}
    problems = {i: item for i, item in enumerate(checked) if isinstance(item, ContractError)}
    events = [(i, item) for i, item in enumerate(checked) if isinstance(item, EventV1)]
    snapshots = [(i, item) for i, item in enumerate(checked) if isinstance(item, SnapshotMessage)]
    # Events first: a snapshot in the same batch can then be checked against its event.
    results |= _store_events(session, messages, events, grouping)
    problems |= _store_snapshots(session, messages, snapshots, results)
    for i, item in enumerate(checked):
        if isinstance(item, AgentStatusV1 | CameraStatusV1 | HeartbeatV1):
            incidents = _record_health(session, item, messages[i].received_at, grouping)
            results[i] = IngestResult(outcome="stored", incidents=tuple(incidents))
    rejections = []
    for i in sorted(problems):
        message, problem = messages[i], problems[i]
        rejections.append(
            Rejection(
                message.topic, problem.reason, problem.detail, message.payload, message.received_at
            )
        )
        results[i] = IngestResult(outcome="rejected", reason=problem.reason, detail=problem.detail)
    store_dead_letters(session, rejections)
    return [results[i] for i in range(len(messages))]


def _store_events(
    session: Session,
    messages: Sequence[ReceivedMessage],
    events: Sequence[tuple[int, EventV1]],
    grouping: GroupingPolicy,
) -> dict[int, IngestResult]:
    if not events:
        return {}
    head = lock_event_stream(session)
    stored = store_events(session, [(event, messages[i].received_at) for i, event in events])
    results, new_events = {}, []
    for i, event in events:
        # pop: a second copy of the same event in this batch is a duplicate of the first.
        new = stored.pop(event.event_id, None)
        if new is None:
            results[i] = IngestResult(outcome="duplicate")
        else:
            new_events.append((i, new))
    incidents = file_stored_events(
        session, [(new, messages[i].received_at) for i, new in new_events], grouping
    )
    # An incident is pushed once per batch, with the last of its events in the batch.
    last_of = {incident.id: i for (i, _), incident in zip(new_events, incidents, strict=True)}
    for (i, new), incident in zip(new_events, incidents, strict=True):
        pushed = (incident,) if last_of[incident.id] == i else ()
        results[i] = IngestResult(outcome="stored", event=new, incidents=pushed)
    stored_ids = [result.event.id for result in results.values() if result.event is not None]
    if stored_ids and head is not None:
        notify_stored(session, head, max(stored_ids))
    return results


def _store_snapshots(
    session: Session,
    messages: Sequence[ReceivedMessage],
    snapshots: Sequence[tuple[int, SnapshotMessage]],
    results: dict[int, IngestResult],
) -> dict[int, ContractError]:
    """Store the snapshots (recording their results); return those of another's event."""
    owners = event_identities(session, [snapshot.event_id for _, snapshot in snapshots])
    problems, accepted = {}, []
    for i, snapshot in snapshots:
        owner = owners.get(snapshot.event_id)
        if owner is not None and owner != (snapshot.agent_id, snapshot.camera_id):
            problems[i] = ContractError(
                "identity_mismatch",
                f"event {snapshot.event_id} is {owner[0]}/{owner[1]}'s, "
                f"topic says {snapshot.agent_id}/{snapshot.camera_id}",
            )
            continue
        accepted.append((snapshot, messages[i].received_at))
        results[i] = IngestResult(outcome="stored")
    store_snapshots(session, accepted)
    return problems


def _record_health(
    session: Session,
    message: AgentStatusV1 | CameraStatusV1 | HeartbeatV1,
    received_at: datetime,
    grouping: GroupingPolicy,
) -> list[IncidentOut]:
    if isinstance(message, AgentStatusV1):
        return record_agent_status(session, message, received_at, grouping)
    if isinstance(message, CameraStatusV1):
        return record_camera_status(session, message, received_at, grouping)
    return record_heartbeat(session, message, received_at, grouping)


def _reject_unstorable(
    sessions: sessionmaker[Session], message: ReceivedMessage, detail: str
) -> IngestResult:
    rejection = Rejection(message.topic, "unstorable", detail, message.payload, message.received_at)
    with sessions.begin() as session:
        store_dead_letters(session, [rejection])
    result = IngestResult(outcome="rejected", reason="unstorable", detail=detail)
    _log([message], [result])
    return result


def _log(messages: Sequence[ReceivedMessage], results: Sequence[IngestResult]) -> None:
    # One line per rejection or duplicate, logged once its outcome is safely stored.
    for message, result in zip(messages, results, strict=True):
        if result.outcome == "duplicate":
            logger.info("duplicate message on %s: already stored", message.topic)
        elif result.outcome == "rejected":
            detail = " ".join((result.detail or "").split())
            logger.warning("rejected message on %s: %s (%s)", message.topic, result.reason, detail)
