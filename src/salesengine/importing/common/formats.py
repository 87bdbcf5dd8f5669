"""The source formats ``salesengine import --format`` reads besides JSON Lines commands."""

from __future__ import annotations

# Each format's reader module under salesengine.importing (see ``readers``); each
# mapping file is for one of them.
FORMATS = {"salesforce": "salesforce", "csv": "crm_csv", "xes": "xes"}

# Formats whose import can be shared among worker processes.
SHAREABLE = frozenset({"xes"})
