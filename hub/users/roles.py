"""The hub's roles, ordered: admin can do all a dispatcher can, who can do all a viewer can."""

from __future__ import annotations

from enum import Enum


class Role(str, Enum):
    """What a user may do: viewers read, dispatchers act on incidents, admins manage."""

    VIEWER = "viewer"
    DISPATCHER = "dispatcher"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """Position in the order viewer < dispatcher < admin."""
        return list(Role).index(self)

    def includes(self, required: Role) -> bool:
        """True when this role may do everything `required` may."""
        return self.rank >= required.rank
