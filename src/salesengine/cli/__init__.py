"""The ``salesengine`` command line."""
