"""What freshly stored events do beyond their own rows: register cameras, file incidents."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from hub.cameras.service import learn_cameras_from_events
from hub.events.schemas import StoredEvent
from hub.incidents.grouping import GroupingPolicy
from hub.incidents.schemas import IncidentOut
from hub.incidents.service import attach_events


def file_stored_events(
    session: Session, events: Sequence[tuple[StoredEvent, datetime]], policy: GroupingPolicy
) -> list[IncidentOut]:
    """The incident of each (event, receipt time), filed in the transaction storing the events.

    A crash can then never keep an event without its incident, or the other way round.
    """
    learn_cameras_from_events(session, events)
    return attach_events(session, events, policy)
