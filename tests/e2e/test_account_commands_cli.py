"""Account and quota commands written as JSON Lines (``salesengine import``) or through
``POST /api/v1/commands``, read back as a user reads them: the ``account show`` and
``quota show`` documents, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.service.conftest import make_api
from tests.support.cli_runner import CLI, Run

AT = "2026-03-02T09:00:00+00:00"
LINES: list[dict[str, Any]] = [
    {"cmd": "account_open", "account": "ACME", "name": "Acme 公司", "owner": "ana"}
    | {"team": "north", "at": AT},
    {"cmd": "buying_power", "account": "ACME", "amount": "1500000", "currency": "CNY", "at": AT},
    {"cmd": "share_of_wallet", "account": "ACME", "percent": "5", "at": AT},
    {"cmd": "contact_add", "account": "ACME", "contact": "wang", "name": "Wang Wei"}
    | {"role": "decision_maker", "support": 2, "at": AT},
    {"cmd": "set_quota", "rep": "ana", "team": "north", "period": "2026", "amount": "120000"}
    | {"currency": "CNY", "at": AT},
]


def ok(run: Run) -> Run:
    assert run.code == 0, run.err
    return run


def shown(cli: CLI, db: str, by: str) -> None:
    """Then: the account and the quota read back, with ``by`` as their actor."""
    account = ok(cli("account", "show", "ACME", "--json", db_url=db)).json()["account"]
    assert (account["name"], account["owner"], account["team"], account["rad"]) == (
        "Acme 公司",
        "ana",
        "north",
        "A1",
    )
    assert [c["contact"] for c in account["contacts"]] == ["wang"]
    quota = ok(cli("quota", "show", "--rep", "ana", "--year", "2026", "--json", db_url=db)).json()
    assert quota["team"] == "north" and quota["currency"] == "CNY"
    amounts = {q["period"]: q["amount"] for q in quota["quotas"]}
    assert amounts["2026"] == "120000.00" and amounts["2026-Q3"] == "30000.00"
    assert {c["actor"] for c in quota["changes"]} == {by}


def test_given_a_file_of_account_and_quota_lines_when_imported_then_show_reads_them(
    cli: CLI, store_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "accounts.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in LINES) + "\n", encoding="utf-8")
    run = ok(cli("import", str(path), db_url=store_url))
    assert f"{len(LINES)} applied" in run.out
    shown(cli, store_url, "auditor-test")  # the writer's actor: the file names none
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"cmd": "grade", "account": "ACME", "grade": "Z"}\n', encoding="utf-8")
    refused = cli("import", str(bad), db_url=store_url)
    assert refused.code == 1
    assert "bad.jsonl:1: refused: field 'grade'" in refused.err
    account = ok(cli("account", "show", "ACME", "--json", db_url=store_url)).json()["account"]
    assert account["grade_source"] != "set"


def test_given_commands_posted_by_a_manager_then_show_reads_them_with_him_as_actor(
    cli: CLI, store_url: str
) -> None:
    placed = {"cmd": "set_quota", "rep": "ana", "team": "north", "period": "2025"}
    placed |= {"amount": "100000", "currency": "CNY"}
    for api in make_api(store_url):
        # An admin placed ana in north (her last year's quota): her manager sets this year's.
        assert api.post("admin", "/api/v1/commands", placed).status_code == 200
        answer = api.post("north", "/api/v1/commands", LINES)
        assert answer.status_code == 200, answer.text
        shown(cli, store_url, "north-lead")
