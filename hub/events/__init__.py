"""Threat events: storage, queries and the /api/events routes."""
