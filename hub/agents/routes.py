"""HTTP routes of the agents domain: GET /api/agents."""

# No `from __future__ import annotations`: the session annotation is local to build_router,
# so FastAPI could not resolve it from a string.
from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from hub.agents.schemas import AgentList
from hub.agents.service import list_agents
from hub.db.engine import Database
from hub.db.session import session_dependency
from hub.users.security import require_viewer


def build_router(database: Database) -> APIRouter:
    """The /api/agents route on `database`."""
    router = APIRouter(
        prefix="/api/agents", tags=["agents"], dependencies=[Depends(require_viewer)]
    )
    session_of_request = Annotated[Session, Depends(session_dependency(database))]

    @router.get("", response_model=AgentList)
    def get_agents(session: session_of_request) -> AgentList:
        """Every registered agent with its state, last heartbeat and last health figures."""
        return list_agents(session)

    return router
