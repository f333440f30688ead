"""MQTT ingest: validate each agent message, store it (or dead-letter it), then acknowledge it."""
