"""The camera registry: where each camera is, what it sees, and whether it is online."""
