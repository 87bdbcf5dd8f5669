"""Helpers the tests share: data paths, services, clocks, commands, stores, brokers, the
relay, the command line, and the random and hand-built histories the reports are checked
on. Fixtures stay in the conftest.py files; no test imports from a conftest module."""
