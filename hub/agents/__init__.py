"""The agent registry: which edge agents exist, their health, and when they go silent."""
