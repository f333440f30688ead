"""JPEG snapshots of events: stored from their MQTT topic, served under /api/events."""
