"""Geolocation: where a detected object stands on the ground, from a camera calibration.

With >= 4 image ↔ GPS points, a homography maps the image onto a local metric tangent plane
centred on the camera; an object's ground point (bottom centre of its box) then becomes a GPS
point. Without a calibration, or for a point the homography cannot place (above the horizon,
too far), the event honestly carries the camera's own position and accuracy radius.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from edge_agent.zones import Box, Point, ground_point
from vigie_contract import Location

if TYPE_CHECKING:
    from edge_agent.config import CalibrationConfig, CalibrationPointConfig, PositionConfig

# Mean Earth radius (IUGG); the equirectangular tangent plane is cm-accurate over a few km.
EARTH_RADIUS_M = 6_371_008.8
# A homography denominator this close to 0 maps the point to (or beyond) the horizon.
HORIZON_EPSILON = 1e-9


class GeoError(ValueError):
    """A calibration that cannot give a homography; the message says why."""


@dataclass(frozen=True)
class TangentPlane:
    """Local east/north metres around an origin (WGS84 lat/lon in degrees)."""

    lat0: float
    lon0: float

    def to_metres(self, lat: float, lon: float) -> tuple[float, float]:
        """East and north metres of a GPS point from the origin."""
        east = math.radians(lon - self.lon0) * EARTH_RADIUS_M * math.cos(math.radians(self.lat0))
        north = math.radians(lat - self.lat0) * EARTH_RADIUS_M
        return east, north

    def to_gps(self, east: float, north: float) -> tuple[float, float]:
        """The GPS point (lat, lon) east/north metres from the origin."""
        lat = self.lat0 + math.degrees(north / EARTH_RADIUS_M)
        lon = self.lon0 + math.degrees(east / (EARTH_RADIUS_M * math.cos(math.radians(self.lat0))))
        return lat, lon


@dataclass(frozen=True)
class GroundHomography:
    """A fitted image → ground-plane homography and how well it reproduces its own points."""

    plane: TangentPlane
    matrix: np.ndarray  # 3x3, normalised image coordinates → east/north metres
    errors_m: tuple[float, ...]  # per calibration point, in metres on the ground

    @property
    def rms_error_m(self) -> float:
        """Root mean square reprojection error over the calibration points, in metres."""
        return math.sqrt(sum(error * error for error in self.errors_m) / len(self.errors_m))

    def to_ground(self, point: Point) -> tuple[float, float] | None:
        """East/north metres of an image point, or None if it lies at or above the horizon."""
        x, y, w = self.matrix @ np.array([point[0], point[1], 1.0])
        if w <= HORIZON_EPSILON:
            return None
        return float(x / w), float(y / w)

    def to_gps(self, point: Point) -> tuple[float, float] | None:
        """The GPS point (lat, lon) an image point shows, or None above the horizon."""
        ground = self.to_ground(point)
        return None if ground is None else self.plane.to_gps(*ground)


def check_calibration_points(points: Sequence[CalibrationPointConfig]) -> None:
    """Raise GeoError unless the points can give a homography (>= 4, not collinear)."""
    if len(points) < 4:
        raise GeoError(f"a homography needs at least 4 points, got {len(points)}")
    for name, coords in (
        ("image", [p.image for p in points]),
        ("gps", [(p.gps[1], p.gps[0]) for p in points]),
    ):
        if _rank_of_spread(coords) < 2:
            raise GeoError(f"the {name} points lie on one line; spread them over the ground")


def _rank_of_spread(coords: Sequence[Point]) -> int:
    array = np.asarray(coords, dtype=np.float64)
    centred = array - array.mean(axis=0)
    scale = float(np.abs(centred).max()) or 1.0
    return int(np.linalg.matrix_rank(centred / scale, tol=1e-6))


def fit_homography(
    points: Sequence[CalibrationPointConfig], plane: TangentPlane
) -> GroundHomography:
    """Least-squares homography of all points (no outlier rejection: every point is checked)."""
    check_calibration_points(points)
    image = np.array([p.image for p in points], dtype=np.float64)
    ground = np.array([plane.to_metres(*p.gps) for p in points], dtype=np.float64)
    matrix, _ = cv2.findHomography(image, ground, 0)
    if matrix is None:
        raise GeoError("no homography fits these points; check that image and GPS points match")
    # Orient it so that the calibration points (on the ground, in view) have w > 0.
    w = matrix[2] @ np.array([image[0, 0], image[0, 1], 1.0])
    if w < 0:
        matrix = -matrix
    fitted = GroundHomography(plane=plane, matrix=matrix, errors_m=())
    errors = []
    for (x, y), (east, north) in zip(image, ground, strict=True):
        mapped = fitted.to_ground((float(x), float(y)))
        errors.append(math.inf if mapped is None else math.dist(mapped, (east, north)))
    return GroundHomography(plane=plane, matrix=matrix, errors_m=tuple(errors))


class Geolocator:
    """Locates a camera's detections: homography ground point, else the camera's position."""

    def __init__(self, position: PositionConfig, calibration: CalibrationConfig | None) -> None:
        self.position = position
        self.calibration = calibration
        self.plane = TangentPlane(position.lat, position.lon)
        self.homography = (
            fit_homography(calibration.points, self.plane) if calibration is not None else None
        )

    def camera_location(self) -> Location:
        """The camera's own position with its configured accuracy radius."""
        return Location(
            lat=self.position.lat,
            lon=self.position.lon,
            source="camera",
            accuracy_m=self.position.accuracy_m,
        )

    def locate(self, box: Box) -> Location:
        """Where the object in a normalised [x0, y0, x1, y1] box stands."""
        if self.homography is None or self.calibration is None:
            return self.camera_location()
        ground = self.homography.to_ground(ground_point(box))
        if ground is None or math.hypot(*ground) > self.calibration.max_range_m:
            return self.camera_location()
        lat, lon = self.plane.to_gps(*ground)
        accuracy = max(self.homography.rms_error_m, self.calibration.min_accuracy_m)
        return Location(lat=lat, lon=lon, source="homography", accuracy_m=accuracy)


def bearing_deg(plane: TangentPlane, lat: float, lon: float) -> float:
    """Compass bearing (0 = north, clockwise) from the plane's origin to a GPS point."""
    east, north = plane.to_metres(lat, lon)
    return math.degrees(math.atan2(east, north)) % 360.0


def outside_field_of_view(bearing: float, heading_deg: float, fov_deg: float) -> bool:
    """Whether a bearing falls outside the camera's horizontal field of view."""
    offset = (bearing - heading_deg + 180.0) % 360.0 - 180.0
    return abs(offset) > fov_deg / 2.0
