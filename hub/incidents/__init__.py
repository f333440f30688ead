"""Incidents: grouped threats that dispatchers act on, with a lifecycle and a checklist."""
