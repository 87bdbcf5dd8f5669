"""Salesforce OpportunityFieldHistory exports, one row per changed field, through the
guarded write path with the same mapping as OpportunityHistory."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from salesengine.application.engine import SalesEngine
from salesengine.bootstrap import build_engine
from salesengine.domain.deal import Deal
from salesengine.importing import salesforce
from salesengine.importing.common.errors import MappingError, SourceError
from salesengine.importing.common.items import Rejected, Skipped, SourceCommand
from salesengine.importing.sources import SourceReport, import_source
from salesengine.policies.catalog import PolicyCatalog
from tests.support.clock import Clock

FIELD_HISTORY = Path(__file__).parents[1] / "data" / "salesforce-opportunity-field-history.csv"


def opportunity(n: int) -> str:
    return f"0065g00000XyZ{n:02d}AAA"


def import_fields(
    engine: SalesEngine, path: Path = FIELD_HISTORY, mapping: str | None = None
) -> SourceReport:
    assert isinstance(engine.catalog, PolicyCatalog)  # the policy files
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
        "line 6": "DataType 'EntityId': the change is read from its Text row, line 7",
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


def test_reimporting_adds_nothing(engine: SalesEngine) -> None:
    first = import_fields(engine)
    again = import_fields(engine)
    assert first.applied == first.commands - 1 > 40
    assert (again.applied, again.duplicates, len(again.refused)) == (0, first.applied, 1)


HEADER = "Id,OpportunityId,CreatedById,CreatedDate,Field,DataType,OldValue,NewValue,IsDeleted"
# One save changing a field twice, a stage twice and a lookup in both spellings, at once.
ONE_SAVE = [
    "t1,006T,u1,2024-01-01T10:00:00Z,created,Text,,,false",
    "t2,006T,u1,2024-01-02T10:00:00Z,StageName,Text,Prospecting,Qualification,false",
    "t3,006T,u1,2024-01-02T10:00:00Z,StageName,Text,Qualification,Closed Won,false",
    "t4,006T,u1,2024-01-02T10:00:00Z,Amount,Currency,1000,2000,false",
    "t5,006T,u1,2024-01-02T10:00:00Z,Amount,Currency,2000,3000,false",
    "t6,006T,u1,2024-01-02T10:00:00Z,Owner,EntityId,005A,005B,false",
    "t7,006T,u1,2024-01-02T10:00:00Z,Owner,Text,Ann,Bob,false",
]
# Changes of one field at one time that chain in two orders (a cycle) or in none.
UNCHAINED = [
    "u1,006U,u1,2024-01-01T10:00:00Z,created,Text,,,false",
    "u2,006U,u1,2024-01-02T10:00:00Z,Amount,Currency,100,200,false",
    "u3,006U,u1,2024-01-02T10:00:00Z,Amount,Currency,200,100,false",
    "u4,006U,u1,2024-01-03T10:00:00Z,CloseDate,Date,2024-05-01,2024-06-01,false",
    "u5,006U,u1,2024-01-03T10:00:00Z,CloseDate,Date,2024-07-01,2024-08-01,false",
    "u6,006U,u1,2024-01-04T10:00:00Z,Amount,Currency,100,400,false",
]


def write_history(path: Path, rows: list[str]) -> Path:
    """A field-history export: the header, then the rows as given."""
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def replayed(path: Path) -> dict[str, list[object]]:
    """Per deal, its commands (without the source's places) and skip reasons, in order."""
    out: dict[str, list[object]] = {}
    for item in salesforce.read(path, None, None):
        if isinstance(item, SourceCommand):
            out.setdefault(item.command["deal"], []).append((item.source_id, item.command))
        elif isinstance(item, Skipped | Rejected):
            # The reason may name other rows: by their lines, which the order changes.
            reason = re.sub(r"lines? [\d, ]*\d", "line N", item.reason)
            out.setdefault(type(item).__name__, []).append((reason,))
    for kind in ("Skipped", "Rejected"):
        out[kind] = sorted(out.get(kind, []), key=repr)
    return out


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_the_rows_order_in_the_file_does_not_change_any_deals_commands(
    tmp_path: Path, data: st.DataObject
) -> None:
    sample = FIELD_HISTORY.read_text(encoding="utf-8").splitlines()
    rows = sample[1:] + ONE_SAVE + UNCHAINED
    shuffled = data.draw(st.permutations(rows))
    in_order, other = tmp_path / "in-order.csv", tmp_path / "shuffled.csv"
    write_history(in_order, rows)
    write_history(other, shuffled)
    assert replayed(other) == replayed(in_order)


def test_one_saves_changes_chain_and_a_lookup_is_read_once(
    engine: SalesEngine, tmp_path: Path
) -> None:
    path = tmp_path / "one-save.csv"
    write_history(path, list(reversed(ONE_SAVE)))
    report = import_fields(engine, path)
    state = engine.deal_state("006T")
    assert (state.status, state.amount, state.owner) == ("won", Decimal("3000"), "Bob")
    opened = engine.deal_state("006T", as_of=at("2024-01-01T10:00:00"))
    assert (opened.amount, opened.owner) == (Decimal("1000"), "Ann")
    assert [p.message for p in report.skipped] == [
        "DataType 'EntityId': the change is read from its Text row, line 2"
    ]


def test_changes_of_one_field_at_one_time_that_do_not_chain_are_refused_not_ordered_by_the_file(
    engine: SalesEngine, tmp_path: Path
) -> None:
    path = write_history(tmp_path / "unchained.csv", UNCHAINED)
    report = import_fields(engine, path)
    why = (
        "Field '{}' changes 2 times at one time (lines {}) and no one order chains each "
        "OldValue to the NewValue before it: their order, and so the value after them, is "
        "unknown"
    )
    assert [(p.where, p.message) for p in report.refused] == [
        ("line 3", why.format("Amount", "3, 4")),
        ("line 4", why.format("Amount", "3, 4")),
        ("line 5", why.format("CloseDate", "5, 6")),
        ("line 6", why.format("CloseDate", "5, 6")),
    ]
    state = engine.deal_state("006U")
    # The opening holds no value the refused rows would have given it; the later,
    # ordered change still applies.
    assert (state.amount, state.expected_close) == (Decimal("400"), None)
    opened = engine.deal_state("006U", as_of=at("2024-01-01T10:00:00"))
    assert opened.amount is None


def test_an_id_row_without_its_names_row_is_skipped_not_read_as_a_name(
    engine: SalesEngine, tmp_path: Path
) -> None:
    rows = [
        "o1,006O,u1,2024-01-01T10:00:00Z,created,Text,,,false",
        "o2,006O,u1,2024-01-02T10:00:00Z,Owner,EntityId,005A,005B,false",
        "o3,006O,u1,2024-01-03T10:00:00Z,Owner,Text,Ann,Bob,false",
    ]
    report = import_fields(engine, write_history(tmp_path / "ids.csv", rows))
    assert [(p.where, p.message) for p in report.skipped] == [
        (
            "line 3",
            "DataType 'EntityId': only Text rows are read, and this change has none (its "
            "values are ids, not names)",
        )
    ]
    assert engine.deal_state("006O").owner == "Bob"
    assert engine.deal_state("006O", as_of=at("2024-01-02T12:00:00")).owner == "Ann"


def test_an_unreadable_old_value_is_refused_on_its_row_and_the_deal_still_opens(
    engine: SalesEngine, tmp_path: Path
) -> None:
    path = tmp_path / "bad-old.csv"
    rows = [
        "b1,006X,u1,2024-01-01T10:00:00Z,created,Text,,,false",
        'b2,006X,u1,2024-01-02T10:00:00Z,Amount,Currency,"1,000",2000,false',
        "b3,006X,u1,2024-01-03T10:00:00Z,CloseDate,Date,2024-13-01,2024-05-01,false",
    ]
    write_history(path, rows)
    report = import_fields(engine, path)
    assert [(p.where, p.message.split(":")[0]) for p in report.refused] == [
        ("line 3, column OldValue", "field 'amount'"),
        ("line 4, column OldValue", "field 'expected_close'"),
    ]
    state = engine.deal_state("006X")
    assert (state.amount, state.expected_close) == (Decimal("2000"), date(2024, 5, 1))
    assert engine.deal_state("006X", as_of=at("2024-01-01T12:00:00")).amount is None


@pytest.mark.parametrize("created", [True, False])
def test_a_refused_old_value_takes_neither_the_opening_nor_its_rows_new_value(
    engine: SalesEngine, tmp_path: Path, created: bool
) -> None:
    path = tmp_path / "nan-old.csv"
    rows = [
        *(["n0,006N,u1,2024-03-04T10:00:00Z,created,Text,,,false"] if created else []),
        "n1,006N,u1,2024-03-05T10:00:00Z,Amount,Currency,NaN,5,false",
        "n2,006N,u1,2024-03-06T10:00:00Z,Amount,Currency,5,7,false",
    ]
    write_history(path, rows)
    report = import_fields(engine, path)
    line = 3 if created else 2
    assert [(p.where, p.message.split(":")[0]) for p in report.refused] == [
        (f"line {line}, column OldValue", "field 'amount'")
    ]
    assert engine.deal_state("006N").amount == Decimal("7")
    assert engine.deal_state("006N", as_of=at("2024-03-05T12:00:00")).amount == Decimal("5")


def test_a_deal_whose_stage_never_changes_opens_at_the_first_stage_with_a_note(
    engine: SalesEngine, tmp_path: Path
) -> None:
    path = tmp_path / "no-stage.csv"
    rows = [
        "n1,006N,u1,2024-01-01T10:00:00Z,created,Text,,,false",
        "n2,006N,u1,2024-02-01T10:00:00Z,Amount,Currency,100,200,false",
    ]
    write_history(path, rows)
    report = import_fields(engine, path)
    assert [(p.where, p.message) for p in report.notes] == [
        (
            "line 2",
            "the stage at creation is not in a field history and StageName never changes "
            "here: the deal stays at target",
        )
    ]
    assert (report.applied, report.skipped, report.refused) == (2, [], [])
    assert engine.deal_state("006N").position == "target"


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
  lookup_type: EntityId
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
    assert reasons["line 7"] == "DataType 'Text': the change is read from its EntityId row, line 6"
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
    assert (
        "rows: 20 imported, 0 already imported, 1 refused, 6 skipped; "
        "commands: 57 applied, 0 already applied" in proc.stdout
    )


CRITERION_MAPPING = """\
policy: seven-stage
stages: {Prospecting: target, Qualification: discover, Closed Won: won, Closed Lost: lost}
field_history:
  fields:
    created: open
    StageName: stage
    NextStep: {fact: next_step_text}
    Budget_Confirmed__c: {fact: need_and_budget}
"""


def test_fact_fields_open_with_their_old_value_keep_checkboxes_boolean_and_are_not_overwritten(
    engine: SalesEngine, tmp_path: Path
) -> None:
    mapping = tmp_path / "criteria.yaml"
    mapping.write_text(CRITERION_MAPPING, encoding="utf-8")
    path = tmp_path / "facts.csv"
    rows = [
        "c1,006C,u1,2024-01-01T10:00:00Z,created,Text,,,false",
        "c2,006C,u1,2024-01-05T10:00:00Z,NextStep,Text,Call the CFO,,false",
        "c3,006C,u1,2024-01-06T10:00:00Z,Budget_Confirmed__c,Boolean,false,true,false",
        "c4,006C,u1,2024-01-07T10:00:00Z,StageName,Text,Prospecting,Qualification,false",
    ]
    write_history(path, rows)
    report = import_fields(engine, path, str(mapping))
    assert report.refused == []
    opened = engine.deal_state("006C", as_of=at("2024-01-01T10:00:00"))
    assert opened.facts == {"next_step_text": "Call the CFO", "need_and_budget": False}
    state = engine.deal_state("006C")
    assert "next_step_text" not in state.facts  # emptied: retracted
    assert state.facts["need_and_budget"] is True  # the stage move did not stand in for it
    assert state.facts["it_landscape"] == "salesforce: Qualification"
    assert state.position == "discover"


def test_a_field_history_without_data_types_is_refused_unless_the_mapping_reads_every_row(
    engine: SalesEngine, tmp_path: Path
) -> None:
    path = tmp_path / "untyped.csv"
    path.write_text(
        "Id,OpportunityId,CreatedDate,Field,OldValue,NewValue\n"
        "u1,006U,2024-01-01T10:00:00Z,created,,\n"
        "u2,006U,2024-01-02T10:00:00Z,Owner,Ann,Bob\n",
        encoding="utf-8",
    )
    with pytest.raises(SourceError, match=r"line 1: missing column 'DataType' \(type\)"):
        import_fields(engine, path)
    mapping = tmp_path / "untyped.yaml"
    mapping.write_text(
        "policy: seven-stage\nstages: {Prospecting: target}\n"
        "field_history:\n  columns: {type: null}\n",
        encoding="utf-8",
    )
    report = import_fields(engine, path, str(mapping))
    assert (report.applied, report.refused) == (2, [])
    assert engine.deal_state("006U").owner == "Bob"
