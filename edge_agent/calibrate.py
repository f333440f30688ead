"""vigie-agent calibrate: fit a camera's ground homography and report how well it fits."""

from __future__ import annotations

import math
from collections.abc import Sequence

from edge_agent.config import AgentConfig, CameraConfig
from edge_agent.geo import (
    GroundHomography,
    TangentPlane,
    bearing_deg,
    fit_homography,
    outside_field_of_view,
)


class CalibrationError(ValueError):
    """A camera that cannot be calibrated as asked; the message says why."""


def find_camera(config: AgentConfig, camera_id: str) -> CameraConfig:
    """The camera with this id, else a CalibrationError listing the ids."""
    for camera in config.cameras:
        if camera.id == camera_id:
            return camera
    known = ", ".join(camera.id for camera in config.cameras)
    raise CalibrationError(f"no camera {camera_id!r} in the config (cameras: {known})")


def calibration_report(
    camera: CameraConfig, image_points: Sequence[tuple[float, float]] = ()
) -> list[str]:
    """Lines telling each calibration point's error in metres, and where image points map."""
    if camera.calibration is None:
        raise CalibrationError(f"camera {camera.id} has no calibration.points")
    plane = TangentPlane(camera.position.lat, camera.position.lon)
    homography = fit_homography(camera.calibration.points, plane)
    lines = [f"camera {camera.id}: {len(homography.errors_m)} calibration points"]
    for index, (point, error) in enumerate(
        zip(camera.calibration.points, homography.errors_m, strict=True)
    ):
        x, y = point.image
        lat, lon = point.gps
        line = (
            f"point {index}: image ({x:.4f}, {y:.4f}) -> ({lat:.7f}, {lon:.7f}) error {error:.2f} m"
        )
        lines.append(line + _view_warning(camera, plane, lat, lon))
    lines.append(f"rms reprojection error: {homography.rms_error_m:.2f} m")
    lines.extend(_mapped(homography, point) for point in image_points)
    return lines


def _view_warning(camera: CameraConfig, plane: TangentPlane, lat: float, lon: float) -> str:
    heading, fov = camera.position.heading_deg, camera.position.fov_deg
    if heading is None or fov is None:
        return ""
    bearing = bearing_deg(plane, lat, lon)
    if outside_field_of_view(bearing, heading, fov):
        return f"  WARNING: bearing {bearing:.0f}° is outside the field of view"
    return ""


def _mapped(homography: GroundHomography, point: tuple[float, float]) -> str:
    gps = homography.to_gps(point)
    where = f"image ({point[0]:.4f}, {point[1]:.4f})"
    if gps is None:
        return f"{where}: at or above the horizon, no ground point"
    east, north = homography.plane.to_metres(*gps)
    distance = math.hypot(east, north)
    return f"{where} -> {gps[0]:.7f}, {gps[1]:.7f} ({distance:.1f} m from the camera)"
