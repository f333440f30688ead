"""Storage: the engine factory, the declarative base and schema creation."""
