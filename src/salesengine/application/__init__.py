"""The application service: takes validated commands, guards them, stores events."""
