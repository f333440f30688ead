"""Playbooks: per threat type, the severity, danger perimeter and ordered actions to take."""
