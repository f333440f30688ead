"""Vigie hub: ingests agents' events, stores them, and serves the admin panel and the live map."""

__version__ = "0.1.0"
