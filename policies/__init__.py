"""Funnel policies shipped as data (``*.toml``), and the catalog that reads them: the
adapter behind the application's ``PolicySource``, wired in ``salesengine.bootstrap``.

Users add their own policy files to a directory named by ``SALESENGINE_POLICY_PATH``.
"""
