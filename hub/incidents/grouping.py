"""The rule that groups repeated sightings into one incident, and its defaults."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

DEFAULT_GROUP_WINDOW_S = 300.0
DEFAULT_GROUP_RADIUS_M = 100.0


@dataclass(frozen=True)
class GroupingPolicy:
    """A sighting joins an open incident of its threat type seen within `window` of it, from the
    same camera (or device), or for detections from within `radius_m` metres of it."""

    window: timedelta
    radius_m: float


DEFAULT_GROUPING = GroupingPolicy(
    window=timedelta(seconds=DEFAULT_GROUP_WINDOW_S), radius_m=DEFAULT_GROUP_RADIUS_M
)
