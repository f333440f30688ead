"""Zones: polygons in normalised image coordinates, and where an object stands in the image."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from edge_agent.config import ZoneConfig

Point = tuple[float, float]
Box = tuple[float, float, float, float]


def ground_point(box: Box) -> Point:
    """Where an object touches the ground: the bottom centre of its [x0, y0, x1, y1] box."""
    x0, _, x1, y1 = box
    return ((x0 + x1) / 2.0, y1)


def point_in_polygon(point: Point, polygon: Sequence[Point]) -> bool:
    """Whether a point lies inside a polygon (even-odd rule; edges count as inside)."""
    x, y = point
    inside = False
    count = len(polygon)
    for index in range(count):
        (xa, ya), (xb, yb) = polygon[index], polygon[(index + 1) % count]
        if _on_segment(point, (xa, ya), (xb, yb)):
            return True
        if (ya > y) != (yb > y):
            crossing_x = xa + (y - ya) * (xb - xa) / (yb - ya)
            if x < crossing_x:
                inside = not inside
    return inside


def _on_segment(point: Point, start: Point, end: Point, tolerance: float = 1e-9) -> bool:
    (x, y), (xa, ya), (xb, yb) = point, start, end
    cross = (xb - xa) * (y - ya) - (yb - ya) * (x - xa)
    if abs(cross) > tolerance:
        return False
    return min(xa, xb) - tolerance <= x <= max(xa, xb) + tolerance and (
        min(ya, yb) - tolerance <= y <= max(ya, yb) + tolerance
    )


def zone_contains(zone: ZoneConfig, point: Point) -> bool:
    """Whether a point is inside one of the zone's include polygons and none of its excludes."""
    included = any(point_in_polygon(point, polygon) for polygon in zone.include)
    return included and not any(point_in_polygon(point, polygon) for polygon in zone.exclude)


def zones_containing(zones: Iterable[ZoneConfig], point: Point) -> set[str]:
    """The names of the zones a point is in."""
    return {zone.name for zone in zones if zone_contains(zone, point)}
