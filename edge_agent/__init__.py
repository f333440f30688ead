"""Vigie edge agent: cameras in, confirmed threat events out over MQTT."""

__version__ = "0.1.0"
