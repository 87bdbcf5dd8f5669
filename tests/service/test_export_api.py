"""GET /api/v1/export: what ``salesengine export`` writes, of the caller's deals only."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from tests.service.conftest import Api
from tests.support.cli_runner import salesengine

WHEN = {"as_of": "2026-04-01", "known_at": "2030-01-01"}
CLI_WHEN = ["--as-of", "2026-04-01", "--known-at", "2030-01-01"]


def test_the_xes_log_is_what_the_command_line_writes(api: Api, tmp_path: Path) -> None:
    answer = api.get("auditor", "/api/v1/export", format="xes", **WHEN)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/xml")
    out = tmp_path / "log.xes"
    run = salesengine("export", str(out), *CLI_WHEN, env={"SALESENGINE_DB": api.db})
    assert run.returncode == 0, run.stderr
    assert answer.content == out.read_bytes()
    assert answer.content.count(b"<trace>") == 4


def test_a_manager_exports_the_teams_deals_only(api: Api) -> None:
    answer = api.get("north", "/api/v1/export", format="xes", **WHEN)
    assert answer.status_code == 200, answer.text
    assert answer.content.count(b"<trace>") == 3
    assert b'"S-1"' not in answer.content and b"S-1" not in answer.content
    tables = api.get("north", "/api/v1/export", format="csv", **WHEN)
    assert tables.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(tables.content)) as packed:
        assert sorted(packed.namelist()) == ["events.csv", "stage_intervals.csv"]
        events = packed.read("events.csv").decode()
    assert "N-1" in events and "N-3" in events and "S-1" not in events


def test_the_roles_without_export_get_403(api: Api) -> None:
    for who in ("ana", "crm"):
        answer = api.get(who, "/api/v1/export")
        assert answer.status_code == 403
        assert answer.json()["code"] == "forbidden"
    bad = api.get("admin", "/api/v1/export", format="pdf")
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "query.format"


def test_a_misspelt_parameter_is_refused_not_ignored(api: Api) -> None:
    for path, query in (("/api/v1/export", {"formt": "csv"}), ("/api/v1/feed", {"afer": "3"})):
        answer = api.get("admin", path, **query)
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"][0]["field"] == f"query.{next(iter(query))}"
    long_id = {"Last-Event-ID": "9" * 5000} | api.auth("admin")
    answer = api.client.get("/api/v1/feed/stream", headers=long_id)
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "header.last-event-id"
