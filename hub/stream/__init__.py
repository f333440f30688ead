"""Live stream of stored events to browsers over WebSocket, with replay from the database."""
