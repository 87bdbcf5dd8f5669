"""The HTTP service: the API, its access control and the dashboard, over the engine."""
