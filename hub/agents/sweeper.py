"""The periodic sweep that turns silent agents offline, running on the hub's event loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError

from hub.agents.service import sweep_stale_agents
from hub.db.engine import Database
from hub.incidents.grouping import GroupingPolicy
from hub.incidents.schemas import IncidentOut
from vigie_contract.event import utc_now

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepSchedule:
    """How often to sweep, and how long a silence makes an agent offline."""

    interval_s: float
    stale_after: timedelta


async def sweep_forever(
    database: Database,
    schedule: SweepSchedule,
    policy: GroupingPolicy,
    publish: Callable[[IncidentOut], None],
) -> None:
    """Sweep every interval until cancelled, publishing each incident a sweep opens or joins."""
    # A hub that just started has not yet heard from the live agents: give them one full period.
    await asyncio.sleep(schedule.stale_after.total_seconds())
    while True:
        try:
            changed = await asyncio.to_thread(sweep_once, database, schedule.stale_after, policy)
        except SQLAlchemyError as exc:
            logger.warning("agent health sweep failed, retrying next time: %s", exc)
            changed = []
        for incident in changed:
            publish(incident)
        await asyncio.sleep(schedule.interval_s)


def sweep_once(
    database: Database, stale_after: timedelta, policy: GroupingPolicy
) -> list[IncidentOut]:
    """One committed sweep; the incidents it opened or joined."""
    with database.sessions.begin() as session:
        changed = sweep_stale_agents(session, utc_now(), stale_after, policy)
    for incident in changed:
        logger.warning("agent %s is offline: incident %d", incident.agent_id, incident.id)
    return changed
