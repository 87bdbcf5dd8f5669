"""Salesforce OpportunityFieldHistory exports, one row per changed field, through the
guarded write path with the same mapping as OpportunityHistory."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from salesengine.application.engine import SalesEngine
from salesengine.bootstrap import build_engine
from salesengine.domain.deal import Deal
from salesengine.importing import salesforce
from salesengine.importing.sources import MappingError, SourceError, SourceReport, import_source
from tests.conftest import Clock

FIELD_HISTORY = Path(__file__).parents[1] / "data" / "salesforce-opportunity-field-history.csv"


def opportunity(n: int) -> str:
    return f"0065g00000XyZ{n:02d}AAA"


def import_fields(
    engine: SalesEngine, path: Path = FIELD_HISTORY, mapping: str | None = None
) -> SourceReport:
    return import_source(
        engine, path, "salesforce", salesforce.read(path, mapping, None, catalog=engine.catalog)
    )


def positions(engine: SalesEngine, key: str) -> list[tuple[datetime, str]]:
    """The deal's positions in effective order: opening, then each stage change."""
    return [
        (entry.effective_at, entry.stage_after)
        for entry in engine.history(key).events
        if entry.stage_before != entry.stage_after
    ]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[SalesEngine]:
    engine = build_engine(str(tmp_path / "store.db"), clock=Clock(), actor="tester")
    yield engine
    engine.close()


def test_each_opportunity_replays_its_stage_changes_at_their_created_dates(
    engine: SalesEngine,
) -> None:
    report = import_fields(engine)
    assert sorted(engine.deal_keys()) == [opportunity(n) for n in (1, 2, 3, 4)]
    assert positions(engine, opportunity(1)) == [
        (at("2024-01-08T10:07:11"), "target"),
        (at("2024-01-15T11:20:16"), "discover"),
        (at("2024-01-29T12:33:21"), "intent"),
        (at("2024-03-04T14:59:31"), "recognition"),
        (at("2024-04-02T16:25:41"), "won"),
    ]
    # No created row: the deal opens at its first row, in the stage that row left.
    assert positions(engine, opportunity(2)) == [
        (at("2024-01-19T12:27:27"), "target"),
        (at("2024-01-19T12:27:27"), "discover"),
        (at("2024-02-27T14:53:37"), "lost"),
    ]
    assert engine.deal_state(opportunity(2)).outcome_reason == (
        "salesforce: Qualification -> Closed Lost"
    )
    assert [p.where for p in report.refused] == ["line 25, column CreatedDate"]


def test_the_stage_before_the_first_change_holds_from_the_opening(engine: SalesEngine) -> None:
    import_fields(engine)
    moves = positions(engine, opportunity(3))
    created = at("2024-01-15T12:21:33")
    assert moves[:2] == [(created, "target"), (created, "intent")]
    assert [stage for _, stage in moves[2:]] == ["approval", "intent", "approval"]
    timeline = engine.load(opportunity(3)).timeline
    first_move = next(e for e in timeline if isinstance(e, Deal.StageAdvanced))
    assert first_move.provenance is not None
    assert (first_move.provenance["line"], first_move.provenance["column"]) == ("17", "OldValue")
    assert first_move.effective_at == created


def test_amount_close_date_and_owner_open_with_their_old_values_and_follow_the_rows(
    engine: SalesEngine,
) -> None:
    import_fields(engine)
    key = opportunity(1)
    opening = engine.deal_state(key, as_of=at("2024-01-08T10:07:11"))
    assert (opening.amount, opening.expected_close, opening.owner) == (
        Decimal("50000"),
        date(2024, 4, 30),
        "Ana Ruiz",
    )
    before_owner_change = engine.deal_state(key, as_of=at("2024-02-12T13:46:25"))
    assert (before_owner_change.amount, before_owner_change.owner) == (Decimal("55000"), "Ana Ruiz")
    final = engine.deal_state(key)
    assert (final.amount, final.currency, final.expected_close, final.owner) == (
        Decimal("58500"),
        "USD",
        date(2024, 4, 2),
        "Ben Okafor",
    )
    # The save that closed the deal set its final amount first: the win carries it.
    won = next(e for e in engine.history(key).events if e.type.endswith("Won"))
    changes = [e for e in engine.history(key).events if e.type.endswith("AmountChanged")]
    assert changes[-1].effective_at == won.effective_at
    assert engine.history(key).events.index(changes[-1]) < engine.history(key).events.index(won)


def test_skipped_rows_name_their_line_and_reason(engine: SalesEngine) -> None:
    report = import_fields(engine)
    reasons = {p.where: p.message for p in report.skipped}
    assert reasons == {
        "line 6": "DataType 'EntityId': the owner change is read from its Text row",
        "line 19": "Field 'NextStep' is not in the mapping (created, StageName, Amount, "
        "CloseDate, Owner)",
        "line 20": reasons["line 20"],
        "line 22": "no change: 'Value Proposition' is stage 'approval' already",
        "line 23": "Amount emptied: the deal keeps its amount",
        "line 24": "IsDeleted: deleted in Salesforce",
    }
    assert reasons["line 20"].startswith("NewValue 'Closing Soon' is not in the mapping")
    assert engine.deal_state(opportunity(3)).position == "approval"  # the deleted loss ignored
    assert engine.deal_state(opportunity(3)).amount == Decimal("140000")


def test_a_row_with_a_bad_date_is_refused_and_the_rest_of_its_deal_imports(
    engine: SalesEngine,
) -> None:
    report = import_fields(engine)
    (refused,) = report.refused
    assert refused.where == "line 25, column CreatedDate"
    assert "field 'at'" in refused.message
    assert engine.deal_state(opportunity(3)).amount == Decimal("140000")


def test_reimporting_adds_nothing_and_row_order_does_not_matter(
    engine: SalesEngine, tmp_path: Path
) -> None:
    first = import_fields(engine)
    again = import_fields(engine)
    assert first.applied == first.commands - 1 > 40
    assert (again.applied, again.duplicates, len(again.refused)) == (0, first.applied, 1)

    lines = FIELD_HISTORY.read_text(encoding="utf-8").splitlines(keepends=True)
    body = lines[1:]
    random.Random(7).shuffle(body)
    shuffled = tmp_path / "shuffled.csv"
    shuffled.write_text("".join([lines[0], *body]), encoding="utf-8")
    other = build_engine(str(tmp_path / "other.db"), clock=Clock(), actor="tester")
    try:
        import_fields(other, shuffled)
        for n in (1, 2, 3, 4):
            assert positions(other, opportunity(n)) == positions(engine, opportunity(n)), n
            mine, theirs = engine.deal_state(opportunity(n)), other.deal_state(opportunity(n))
            assert (theirs.amount, theirs.owner, theirs.expected_close) == (
                mine.amount,
                mine.owner,
                mine.expected_close,
            )
    finally:
        other.close()


MAPPING_WITH_FACTS = """\
policy: seven-stage
currency: EUR
deal_prefix: sf-
stages:
  Prospecting: target
  Qualification: discover
  Needs Analysis: intent
  Value Proposition: approval
  Id. Decision Makers: approval
  Closing Soon: negotiation
  Closed Won: won
  Closed Lost: lost
field_history:
  owner_type: EntityId
  fields:
    created: open
    StageName: stage
    Amount: amount
    Owner: owner
    NextStep: {fact: next_step_text}
"""


def test_a_mapping_may_record_tracked_fields_as_facts_and_read_owner_ids(
    engine: SalesEngine, tmp_path: Path
) -> None:
    mapping = tmp_path / "fields.yaml"
    mapping.write_text(MAPPING_WITH_FACTS, encoding="utf-8")
    report = import_fields(engine, mapping=str(mapping))
    three = engine.deal_state("sf-" + opportunity(3))
    assert three.facts["next_step_text"] == "Call the CFO"
    assert three.position == "approval"
    one = engine.deal_state("sf-" + opportunity(1))
    assert (one.owner, one.currency) == ("0055g00000ABcdGAAT", "EUR")
    assert one.expected_close is None  # CloseDate is not mapped here
    reasons = {p.where: p.message for p in report.skipped}
    assert reasons["line 7"] == "DataType 'Text': the owner change is read from its EntityId row"
    assert reasons["line 8"].startswith("Field 'CloseDate' is not in the mapping")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ("  fields: {StageName: stages}\n", "field 'field_history.fields.StageName"),
        ("  fields: {NextStep: {fact: Next Step}}\n", "field 'field_history.fields.NextStep"),
        ("  colums: {field: F}\n", "field 'field_history.colums'"),
    ],
)
def test_a_bad_field_history_mapping_is_refused_naming_the_field(
    engine: SalesEngine, tmp_path: Path, fields: str, message: str
) -> None:
    mapping = tmp_path / "bad.yaml"
    mapping.write_text(
        "policy: seven-stage\nstages: {Prospecting: target}\nfield_history:\n" + fields,
        encoding="utf-8",
    )
    with pytest.raises(MappingError, match=message.replace(".", r"\.")):
        list(salesforce.read(FIELD_HISTORY, str(mapping), None))
    assert list(engine.deal_keys()) == []


def test_a_field_history_without_the_old_value_column_is_refused_before_any_row(
    engine: SalesEngine, tmp_path: Path
) -> None:
    lines = FIELD_HISTORY.read_text(encoding="utf-8").splitlines()
    broken = tmp_path / "no-old.csv"
    cut = [",".join(cells[:6] + cells[7:]) for cells in (line.split(",") for line in lines)]
    broken.write_text("\n".join(cut) + "\n", encoding="utf-8")
    with pytest.raises(SourceError, match=r"line 1: missing column 'OldValue' \(old\)"):
        import_fields(engine, broken)
    assert list(engine.deal_keys()) == []


def test_the_import_command_tells_a_field_history_export_by_its_header(tmp_path: Path) -> None:
    env = {**os.environ, "SALESENGINE_DB": str(tmp_path / "cli.db"), "COLUMNS": "200"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "salesengine",
            "import",
            str(FIELD_HISTORY),
            "--format",
            "salesforce",
        ],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr  # the bad date is refused
    assert "line 25, column CreatedDate: refused: field 'at'" in proc.stderr
    assert "57 applied, 0 already applied, 1 refused, 6 rows skipped" in proc.stdout
