"""The playbooks a new hub starts with; admins adapt them to their city afterwards."""

from __future__ import annotations

from hub.playbooks.schemas import PlaybookSpec

GENERIC_THREAT_TYPE = "generic"

DEFAULT_PLAYBOOKS: dict[str, PlaybookSpec] = {
    "weapon": PlaybookSpec(
        severity="critical",
        perimeter_m=150.0,
        actions=[
            "Notify the police with the GPS coordinates",
            "Set a 150 m perimeter around the location",
            "Keep the camera on screen and follow the person",
            "Alert patrols and venues inside the perimeter",
            "Record the outcome and close the incident",
        ],
    ),
    "intrusion": PlaybookSpec(
        severity="high",
        perimeter_m=50.0,
        actions=[
            "Confirm the intrusion on the camera view",
            "Dispatch the nearest patrol",
            "Notify the site owner",
            "Record the outcome and close the incident",
        ],
    ),
    "vehicle_intrusion": PlaybookSpec(
        severity="high",
        perimeter_m=100.0,
        actions=[
            "Confirm the vehicle on the camera view",
            "Note plate, make and colour if visible",
            "Notify the police and the traffic control room",
            "Clear pedestrians from the perimeter",
            "Record the outcome and close the incident",
        ],
    ),
    "abandoned_object": PlaybookSpec(
        severity="high",
        perimeter_m=100.0,
        actions=[
            "Review the footage to see who left the object",
            "Set a 100 m perimeter and keep people away",
            "Notify the police bomb disposal unit",
            "Record the outcome and close the incident",
        ],
    ),
    "loitering": PlaybookSpec(
        severity="low",
        perimeter_m=25.0,
        actions=[
            "Watch the camera for changes in behaviour",
            "Send a patrol if the person stays",
            "Record the outcome and close the incident",
        ],
    ),
    "camera_offline": PlaybookSpec(
        severity="medium",
        perimeter_m=50.0,
        actions=[
            "Check the camera's last health figures and its neighbours",
            "Look for tampering on the nearest cameras",
            "Send maintenance to the camera",
            "Record the cause and close the incident",
        ],
    ),
    "agent_offline": PlaybookSpec(
        severity="high",
        perimeter_m=100.0,
        actions=[
            "Check the agent's last heartbeat and power or network outages in the area",
            "Watch the area through other cameras",
            "Send maintenance to the agent's cabinet",
            "Record the cause and close the incident",
        ],
    ),
    GENERIC_THREAT_TYPE: PlaybookSpec(
        severity="medium",
        perimeter_m=50.0,
        actions=[
            "Confirm the threat on the camera view",
            "Decide whether to dispatch a patrol",
            "Record the outcome and close the incident",
        ],
    ),
}
