"""The periodic purge, running on the hub's event loop."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.exc import SQLAlchemyError

from hub.db.engine import Database
from hub.retention.service import PurgeReport, RetentionPolicy, purge_expired
from vigie_contract.event import utc_now

logger = logging.getLogger(__name__)


async def purge_forever(database: Database, policy: RetentionPolicy, interval_s: float) -> None:
    """Purge at start-up, then every interval, until cancelled; a failed purge is retried."""
    while True:
        try:
            await asyncio.to_thread(purge_once, database, policy)
        except SQLAlchemyError as exc:
            logger.warning("retention purge failed, retrying next time: %s", exc)
        await asyncio.sleep(interval_s)


def purge_once(database: Database, policy: RetentionPolicy) -> PurgeReport:
    """One committed purge; what it deleted (logged when anything)."""
    with database.sessions.begin() as session:
        report = purge_expired(session, policy, utc_now())
    if report.events or report.snapshots or report.dead_letters:
        logger.info(
            "retention purge: %d event(s), %d snapshot(s), %d dead letter(s) deleted",
            report.events,
            report.snapshots,
            report.dead_letters,
        )
    return report
