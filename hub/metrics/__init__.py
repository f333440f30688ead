"""Prometheus metrics of the hub: ingest, rejects, database writes, WebSocket clients, relay lag."""
