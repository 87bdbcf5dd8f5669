"""Funnel policies shipped as data (``*.toml``) and the reactive rules that run on deals.

Users add their own policy files to a directory named by ``SALESENGINE_POLICY_PATH``.
"""
