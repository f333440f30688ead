"""Geolocation: a ground homography from image ↔ GPS points, its errors, the honest fallback."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge_agent.cli import main
from edge_agent.config import CalibrationConfig, PositionConfig
from edge_agent.geo import Geolocator, TangentPlane, fit_homography

CAMERA = PositionConfig(lat=48.85795, lon=2.34655, accuracy_m=20, heading_deg=0, fov_deg=70)
PLANE = TangentPlane(CAMERA.lat, CAMERA.lon)
HEIGHT_M = 6.0
PITCH = math.radians(12)  # looking north, 12° below the horizon
FOCAL = (0.9, 1.4)  # normalised focal lengths (x, y) of a 16:9 image


def project(east: float, north: float) -> tuple[float, float]:
    """Where a ground point appears in the image of a real pinhole camera, normalised."""
    forward = np.array([0.0, math.cos(PITCH), -math.sin(PITCH)])
    down = np.array([0.0, -math.sin(PITCH), -math.cos(PITCH)])
    ray = np.array([east, north, -HEIGHT_M])
    depth = ray @ forward
    return 0.5 + FOCAL[0] * ray[0] / depth, 0.5 + FOCAL[1] * (ray @ down) / depth


def calibration(ground_points: list[tuple[float, float]], **extra) -> CalibrationConfig:
    """Calibration points as a surveyor would give them: image positions and GPS fixes."""
    points = [
        {"image": project(east, north), "gps": PLANE.to_gps(east, north)}
        for east, north in ground_points
    ]
    return CalibrationConfig.model_validate({"points": points, **extra})


SURVEY = [(-6.0, 12.0), (6.0, 12.0), (-10.0, 30.0), (10.0, 30.0), (0.0, 20.0), (-3.0, 40.0)]


def test_tangent_plane_round_trips_and_measures_metres():
    lat, lon = PLANE.to_gps(30.0, 40.0)
    east, north = PLANE.to_metres(lat, lon)
    assert (east, north) == pytest.approx((30.0, 40.0), abs=1e-6)
    # One degree of latitude is about 111.2 km.
    assert PLANE.to_metres(CAMERA.lat + 1, CAMERA.lon)[1] == pytest.approx(111_195, rel=1e-3)


def test_a_known_image_point_maps_to_its_gps_point_within_a_metre():
    geolocator = Geolocator(CAMERA, calibration(SURVEY))
    # A person standing 4 m east and 25 m north: box bottom centre at their ground point.
    foot_x, foot_y = project(4.0, 25.0)
    box = (foot_x - 0.03, foot_y - 0.2, foot_x + 0.03, foot_y)

    location = geolocator.locate(box)

    expected = PLANE.to_gps(4.0, 25.0)
    error_m = math.dist(PLANE.to_metres(location.lat, location.lon), PLANE.to_metres(*expected))
    assert error_m < 1.0
    assert location.source == "homography"
    assert location.accuracy_m == 1.0  # exact survey: the configured floor


def test_reprojection_errors_reveal_a_bad_survey_point():
    survey = [*SURVEY, (8.0, 16.0)]
    config = calibration(survey)
    points = list(config.points)
    # The surveyor swapped a digit: the last GPS fix is about 11 m north of the truth.
    bad = points[-1].model_copy(update={"gps": (points[-1].gps[0] + 1e-4, points[-1].gps[1])})
    homography = fit_homography([*points[:-1], bad], PLANE)
    assert max(homography.errors_m) == homography.errors_m[-1]
    assert homography.errors_m[-1] > 3.0
    assert homography.rms_error_m > 1.0
    clean = fit_homography(points, PLANE)
    assert clean.rms_error_m < 0.01


def test_without_calibration_the_camera_position_is_reported():
    location = Geolocator(CAMERA, None).locate((0.4, 0.4, 0.6, 0.9))
    assert (location.lat, location.lon, location.source, location.accuracy_m) == (
        CAMERA.lat,
        CAMERA.lon,
        "camera",
        20,
    )


def test_points_above_the_horizon_or_too_far_fall_back_to_the_camera():
    geolocator = Geolocator(CAMERA, calibration(SURVEY, max_range_m=100))
    far_x, far_y = project(0.0, 400.0)
    far = (far_x - 0.01, far_y - 0.02, far_x + 0.01, far_y)
    assert geolocator.locate(far).source == "camera"
    # The horizon's image row; boxes whose feet are above it cannot stand on the ground.
    horizon_y = 0.5 - FOCAL[1] * math.tan(PITCH)
    above = (0.45, horizon_y - 0.2, 0.55, horizon_y - 0.1)
    assert geolocator.locate(above).source == "camera"


def write_config(tmp_path, calibration_doc: dict) -> str:
    """An agent YAML with one calibrated camera."""
    import yaml

    document = {
        "agent_id": "agent-1",
        "mqtt": {"url": "mqtt://127.0.0.1:1883"},
        "detector": {"model": "/models/m.tflite"},
        "cameras": [
            {
                "id": "quay",
                "source": {"type": "folder", "path": "/frames"},
                "position": CAMERA.model_dump(),
                "rules": [{"labels": ["person"], "threat_type": "intrusion", "severity": "high"}],
                "calibration": calibration_doc,
            }
        ],
    }
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(document))
    return str(path)


def test_calibrate_command_prints_errors_in_metres_and_maps_points(tmp_path, capsys):
    points = [point.model_dump() for point in calibration(SURVEY).points]
    foot = project(4.0, 25.0)
    config = write_config(tmp_path, {"points": points})

    code = main(["calibrate", config, "--camera", "quay", "--point", str(foot[0]), str(foot[1])])

    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[0] == "camera quay: 6 calibration points"
    errors = [float(line.split(" error ")[1].removesuffix(" m")) for line in out[1:7]]
    assert max(errors) < 0.01
    assert out[7].startswith("rms reprojection error: 0.00 m")
    lat, lon = (float(v) for v in out[8].split(" -> ")[1].split(" (")[0].split(", "))
    assert math.dist(PLANE.to_metres(lat, lon), (4.0, 25.0)) < 1.0


def test_calibrate_command_flags_points_outside_the_field_of_view(tmp_path, capsys):
    points = [point.model_dump() for point in calibration(SURVEY).points]
    # A fix taken behind-right of the camera (bearing 97°) cannot be in a 70° view to the north.
    points.append({"image": [0.95, 0.95], "gps": list(PLANE.to_gps(40.0, -5.0))})

    assert main(["calibrate", write_config(tmp_path, {"points": points}), "--camera", "quay"]) == 0

    out = capsys.readouterr().out.splitlines()
    assert out[7].endswith("WARNING: bearing 97° is outside the field of view")
    assert not any("WARNING" in line for line in out[1:7])


def test_calibrate_command_names_unknown_cameras_and_missing_calibration(tmp_path, capsys):
    config = write_config(
        tmp_path, {"points": [p.model_dump() for p in calibration(SURVEY).points]}
    )
    assert main(["calibrate", config, "--camera", "dock"]) == 2
    assert "no camera 'dock' in the config (cameras: quay)" in capsys.readouterr().err
