"""JSON Lines files with account and quota commands among the deals', on SQLite and
PostgreSQL: each line applied whole or not at all in file order, a refused line named
by its number, field and reason, and a re-import writing nothing twice."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from salesengine.application.accounts import Accounts
from salesengine.application.engine import SalesEngine
from salesengine.application.quotas import Quotas
from salesengine.importing.jsonl import import_file, owner_of_line, partition_of
from tests.support.clock import T0
from tests.support.commands import FIVE_LEVEL_OPENING

AT = T0.isoformat()
LATER = (T0 + timedelta(days=1)).isoformat()

LINES: list[dict[str, Any]] = [
    {"cmd": "account_open", "account": "Acme", "owner": "ana", "team": "north", "at": AT},
    {"cmd": "open", "deal": "D-1", "policy": "five-level", "account": "Acme", "owner": "ana"}
    | {"team": "north", "facts": FIVE_LEVEL_OPENING, "at": AT},
    {"cmd": "buying_power", "account": "Acme", "amount": "600000", "currency": "EUR"}
    | {"at": LATER},
    {"cmd": "share_of_wallet", "account": "Acme", "percent": 60, "at": LATER},
    {"cmd": "grade", "account": "Acme", "grade": "B", "at": LATER},
    {"cmd": "contact_add", "account": "Acme", "contact": "li", "name": "Li Wei"}
    | {"role": "decision_maker", "at": LATER},
    {"cmd": "contact_change", "account": "Acme", "contact": "li", "support": 1, "at": LATER},
    {"cmd": "activity", "account": "Acme", "kind": "gift", "attendees": ["li"], "at": LATER},
    {"cmd": "visit", "deal": "D-1", "at": LATER},
    {"cmd": "contact_left", "account": "Acme", "contact": "li", "at": LATER},
    {"cmd": "account_change", "account": "Acme", "industry": "retail", "at": LATER},
    {"cmd": "set_quota", "rep": "ana", "team": "north", "period": "2026-Q1"}
    | {"amount": "30000", "currency": "EUR", "at": AT},
    {"cmd": "set_quota", "team": "north", "period": "2026", "amount": "1000000"}
    | {"currency": "EUR", "split": "monthly", "at": AT},
    {"cmd": "clear_quota", "team": "north", "period": "2026-12", "at": LATER},
    {"cmd": "account_open", "account": "Bolt", "owner": "bo", "adopted_from": "D-9", "at": AT},
]


def write(path: Path, lines: list[dict[str, Any] | str]) -> Path:
    text = [
        line if isinstance(line, str) else json.dumps(line, ensure_ascii=False) for line in lines
    ]
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return path


def written(engine: SalesEngine) -> int:
    return engine.recorder.max_notification_id() or 0


def test_given_account_and_quota_lines_among_deals_when_imported_then_each_is_applied(
    engine: SalesEngine, tmp_path: Path
) -> None:
    path = write(tmp_path / "mixed.jsonl", list(LINES))
    report = import_file(engine, path)
    assert report.refused == []
    assert (report.applied, report.duplicates) == (len(LINES), 0)

    accounts = Accounts(engine)
    acme = accounts.state("Acme")
    assert (acme.owner, acme.team, acme.industry, acme.grade) == ("ana", "north", "retail", "B")
    assert (acme.buying_power, acme.share_of_wallet, acme.rad) == (
        Decimal("600000"),
        Decimal("60"),
        "R2",
    )
    assert acme.contacts["li"].support == 1 and not acme.contacts["li"].present
    assert [a.kind for a in acme.activities] == ["gift"]
    assert accounts.state("Bolt").adopted_from == "D-9"
    opened = accounts.events("Acme").timeline[0]
    assert opened.actor == "tester"  # the file names no actor: the writer's
    assert (opened.provenance or {})["format"] == "jsonl"
    assert (opened.provenance or {})["line"] == "1"

    quotas = Quotas(engine)
    now = engine.clock()
    rep = quotas.view("rep", "ana", 2026, now, None)
    assert rep is not None and rep.team == "north"
    assert rep.targets["2026-Q1"].amount == Decimal("30000")
    team = quotas.view("team", "north", 2026, now, None)
    assert team is not None and "2026-12" not in team.targets
    assert team.targets["2026-01"].amount == Decimal("83333.34")  # the cent to the earliest
    deal = engine.find("D-1")
    assert deal is not None and deal.version == 2


def test_given_an_imported_file_when_imported_again_then_nothing_is_written_twice(
    engine: SalesEngine, tmp_path: Path
) -> None:
    path = write(tmp_path / "mixed.jsonl", list(LINES))
    import_file(engine, path)
    before = written(engine)
    again = import_file(engine, path)
    assert (again.applied, again.duplicates, again.refused) == (0, len(LINES), [])
    assert written(engine) == before


def test_given_bad_lines_then_each_is_named_by_line_and_field_and_writes_nothing(
    engine: SalesEngine, tmp_path: Path
) -> None:
    bad: list[dict[str, Any] | str] = [
        LINES[0],
        {"cmd": "buying_power", "account": "Acme", "amount": "12", "currency": "eur"},
        {"cmd": "set_quota", "rep": "ana", "period": "2026-Q5", "amount": "1", "currency": "EUR"},
        {"cmd": "share_of_wallet", "account": "Acme", "percent": "101"},
        {"cmd": "grade", "account": "Nope", "grade": "A"},
        {"cmd": "set_quota", "team": "north", "period": "2026", "amount": "-1"},
        {"cmd": "set_quota", "team": "north", "period": "2026", "amount": "5"},
        {"cmd": "contact_change", "account": "Acme", "contact": "ghost", "name": "G"},
        {"cmd": "account_open", "account": "Acme", "owner": "bo"},
        {"cmd": "clear_quota", "rep": "nobody", "period": "2026"},
        {"cmd": "account_opn", "account": "Acme", "owner": "bo"},
        LINES[4],
    ]
    path = write(tmp_path / "bad.jsonl", bad)
    report = import_file(engine, path)
    refused = {e.line: e.message for e in report.refused}
    assert sorted(refused) == list(range(2, 12))
    assert "field 'currency'" in refused[2]
    assert "field 'period'" in refused[3]
    assert "field 'percent'" in refused[4]
    assert "unknown account 'Nope'" in refused[5]
    assert "field 'amount'" in refused[6]
    assert "needs its currency" in refused[7]
    assert "ghost" in refused[8]
    assert "already exists" in refused[9]
    assert "no quotas" in refused[10]
    assert "field 'cmd'" in refused[11] and "account_open" in refused[11]
    assert report.applied == 2  # the good lines around them, each whole
    state = Accounts(engine).state("Acme")
    assert (state.owner, state.grade, state.buying_power, state.share_of_wallet) == (
        "ana",
        "B",
        None,
        None,
    )
    assert state.contacts == {}
    assert list(Quotas(engine).streams()) == []
    assert written(engine) == 2


def test_given_several_workers_then_every_account_and_quota_line_goes_to_the_first() -> None:
    # Their order within the file is kept only if one worker applies them all.
    for line in LINES:
        if "deal" in line:
            continue
        data = json.dumps(line, ensure_ascii=False).encode()
        assert owner_of_line(data, 4) in (None, 0)
        assert partition_of(line, 4) == 0
