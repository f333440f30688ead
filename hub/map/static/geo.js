// Vigie live map: spherical geometry for camera fields of view.

const EARTH_RADIUS_M = 6371008.8;
const MAX_ARC_STEP_DEG = 5;

const radians = (degrees) => (degrees * Math.PI) / 180;
const degrees = (radiansValue) => (radiansValue * 180) / Math.PI;

/** The point `distance` metres from (lat, lon) along the initial bearing (0 = north, 90 = east). */
export function destination(lat, lon, bearingDeg, distanceM) {
  const angular = distanceM / EARTH_RADIUS_M;
  const phi1 = radians(lat);
  const lambda1 = radians(lon);
  const theta = radians(bearingDeg);
  const phi2 = Math.asin(
    Math.sin(phi1) * Math.cos(angular) + Math.cos(phi1) * Math.sin(angular) * Math.cos(theta),
  );
  const lambda2 =
    lambda1 +
    Math.atan2(
      Math.sin(theta) * Math.sin(angular) * Math.cos(phi1),
      Math.cos(angular) - Math.sin(phi1) * Math.sin(phi2),
    );
  return [degrees(phi2), ((degrees(lambda2) + 540) % 360) - 180];
}

/** The field-of-view polygon: the camera, then an arc from heading − fov/2 to heading + fov/2. */
export function fieldOfView(lat, lon, headingDeg, fovDeg, rangeM) {
  const span = Math.min(fovDeg, 360);
  const steps = Math.max(2, Math.ceil(span / MAX_ARC_STEP_DEG));
  const arc = [];
  for (let step = 0; step <= steps; step += 1) {
    arc.push(destination(lat, lon, headingDeg - span / 2 + (span * step) / steps, rangeM));
  }
  // A full circle of view has no apex: the arc alone closes on itself.
  return span >= 360 ? arc.slice(0, -1) : [[lat, lon], ...arc];
}
