"""End to end: a retraction backdated before the advance that needed the fact is refused,
naming the advance and what would be accepted; the history keeps meaning what it says."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli_inputs import OPENING, iso
from tests.support.cli_runner import CLI, write_jsonl
from tests.support.services import PG_URL

CONTACTED = ("decision_makers_identified", "key_needs_confirmed", "meetings_recorded")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "store.db")
    return f"{PG_URL}?schema={request.getfixturevalue('pg_schema')}"


def test_a_backdated_retraction_that_would_undermine_an_advance_is_refused(
    cli: CLI, tmp_path: Path, db: str
) -> None:
    # Given a deal that advanced to contacted on day 5 with its evidence
    lines = [
        {"cmd": "open", "deal": "D", "policy": "five-level", "at": iso(0), "facts": OPENING},
        *[{"cmd": "fact", "deal": "D", "name": n, "at": iso(1)} for n in CONTACTED],
        {"cmd": "advance", "deal": "D", "to": "contacted", "at": iso(5)},
    ]
    assert cli("import", str(write_jsonl(tmp_path / "d.jsonl", lines)), db_url=db).code == 0
    # When a retraction effective day 4 is imported, and given as a command
    retraction = {"cmd": "retract", "deal": "D", "name": "meetings_recorded", "at": iso(4),
                  "reason": "the meetings were with another customer"}  # fmt: skip
    imported = cli("import", str(write_jsonl(tmp_path / "r.jsonl", [retraction])), db_url=db)
    typed = cli("deal", "retract", "D", "meetings_recorded", "--at", iso(4), db_url=db)
    # Then both are refusals (exit 1) naming the advance, the missing criterion and what
    # would be accepted
    for result in (imported, typed):
        assert result.code == 1, result.err
        text = " ".join((result.out + result.err).split())
        assert "the advance to 'contacted' effective" in text
        assert "missing meetings_recorded" in text
        assert f"make it effective at or after {iso(5)}" in text
    assert "r.jsonl:1: refused: cannot retract fact 'meetings_recorded'" in imported.err
    # and the history shows the advance with its evidence, nothing else
    history = cli("history", "D", "--json", db_url=db).json()
    assert [e["type"] for e in history["events"]][-1] == "StageAdvanced"
    assert "meetings_recorded" in history["state"]["facts"]
    # while the retraction effective at the advance or later is accepted
    assert cli("deal", "retract", "D", "meetings_recorded", "--at", iso(5), db_url=db).code == 0
    after = cli("history", "D", "--json", db_url=db).json()
    assert [e["type"] for e in after["events"]][-2:] == ["StageAdvanced", "FactRetracted"]
    assert after["state"]["stage"] == "contacted"
