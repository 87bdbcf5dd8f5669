"""The command line starts without the heavy libraries only some commands need.

Every ``salesengine`` run imports the whole command tree, so a module-level import of the
reports, exporters or store drivers slows down each command, ``--help`` included.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from salesengine.cli import health as cli_health
from salesengine.cli import main as cli_main
from salesengine.cli import projection_commands as cli_projection
from salesengine.cli import report_options as cli_reports
from salesengine.projections.registry import NAMES
from salesengine.reports.common import GROUPS
from salesengine.reports.health import REASONS
from salesengine.store.settings import DB_ENV

# Loaded only by the commands that need them: reports and exports (sqlalchemy, numpy,
# pyarrow), the PostgreSQL store (psycopg), any store (eventsourcing), commands (pydantic).
HEAVY = ("sqlalchemy", "numpy", "pyarrow", "psycopg", "psycopg_pool", "eventsourcing", "pydantic")
LOADED = f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))"


def loaded_after(code: str, cwd: Path, **env: str) -> list[str]:
    """The heavy modules a fresh interpreter holds after running ``code``."""
    proc = subprocess.run(
        [sys.executable, "-c", f"import json, sys\n{code}\n{LOADED}"],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "SALESENGINE_ACTOR": "startup-test", **env},
        cwd=cwd,
        timeout=120,
    )
    loaded: list[str] = json.loads(proc.stdout.splitlines()[-1])
    return loaded


def test_importing_the_cli_loads_no_heavy_library(tmp_path: Path) -> None:
    # Building the click command resolves every command's signature, as --help does.
    code = "import typer\nfrom salesengine.cli.main import app\ntyper.main.get_command(app)"
    assert loaded_after(code, tmp_path) == []


def test_an_sqlite_import_loads_neither_postgresql_nor_the_reports(tmp_path: Path) -> None:
    lines = [
        {"cmd": "open", "deal": "S-1", "policy": "funnel-list", "at": "2026-01-05T09:00:00Z"},
        {"cmd": "visit", "deal": "S-1", "at": "2026-01-06T09:00:00Z"},
    ]
    source = tmp_path / "deals.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    code = (
        "from salesengine.cli.main import run\n"
        "for argv in (['import', 'deals.jsonl'], ['history', 'S-1']):\n"
        "    try:\n"
        "        run(argv)\n"
        "    except SystemExit as e:\n"
        "        assert not e.code, e.code"
    )
    loaded = loaded_after(code, tmp_path, SALESENGINE_DB=str(tmp_path / "store.db"))
    assert "eventsourcing" in loaded  # the store was opened, as SQLite
    assert not [m for m in loaded if m.split(".")[0] in ("psycopg", "sqlalchemy", "numpy")]


def test_the_clis_copies_of_names_match_their_sources() -> None:
    # Copied so that --help need not import the modules that define them.
    assert cli_main.DB_ENV == DB_ENV
    assert cli_reports.GROUPS == GROUPS
    assert cli_projection.NAMES == NAMES
    assert cli_health.REASONS == REASONS
