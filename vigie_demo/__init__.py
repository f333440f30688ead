"""The `make demo` city: a hub (embedded broker, SQLite) and real agents on real footage."""
