"""The control room's admin panel: live threats, incidents, fleet, playbooks, users, history."""
