"""CRM CSV exports (a generic CSV with a mapping, and Salesforce OpportunityHistory)
imported through the guarded write path."""

from __future__ import annotations

import csv
import random
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from salesengine.application.engine import SalesEngine
from salesengine.bootstrap import build_engine
from salesengine.importing import crm_csv, salesforce
from salesengine.importing.common.errors import MappingError, SourceError
from salesengine.importing.sources import SourceReport, import_source
from tests.support.cli_runner import run_cli
from tests.support.clock import Clock
from tests.support.data import MAVEN_PIPELINE, shared_data

# The shared data sits beside the repository, in CI as here.
SALESFORCE_SAMPLE = Path(__file__).parents[1] / "data" / "salesforce-opportunity-history.csv"


def opportunity(n: int) -> str:
    return f"0065g00000XyZ{n:02d}AAA"


def import_csv(engine: SalesEngine, path: Path, mapping: str | None = None) -> SourceReport:
    return import_source(engine, path, "csv", crm_csv.read(path, mapping, None))


def import_salesforce(
    engine: SalesEngine, path: Path = SALESFORCE_SAMPLE, mapping: str | None = None
) -> SourceReport:
    return import_source(engine, path, "salesforce", salesforce.read(path, mapping, None))


def stage_moves(engine: SalesEngine, key: str) -> list[tuple[date, str]]:
    """The deal's positions in effective order: opening, then each stage change."""
    return [
        (entry.effective_at.date(), entry.stage_after)
        for entry in engine.history(key).events
        if entry.stage_before != entry.stage_after
    ]


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[SalesEngine]:
    engine = build_engine(str(tmp_path / "store.db"), clock=Clock(), actor="tester")
    yield engine
    engine.close()


# ------------------------------------------------------------------ Maven CRM


@pytest.fixture(scope="module")
def maven(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SalesEngine, SourceReport]]:
    pipeline = shared_data(MAVEN_PIPELINE)
    db = tmp_path_factory.mktemp("maven") / "store.db"
    engine = build_engine(str(db), clock=Clock(), actor="tester")
    yield engine, import_csv(engine, pipeline, "maven")
    engine.close()


def test_every_maven_deal_ends_in_the_stage_or_outcome_its_csv_row_names(
    maven: tuple[SalesEngine, SourceReport],
) -> None:
    engine, report = maven
    with MAVEN_PIPELINE.open(encoding="utf-8") as handle:
        expected = Counter(row["deal_stage"].lower() for row in csv.DictReader(handle))
    positions = Counter(engine.deal_state(key).position for key in engine.deal_keys())
    assert expected == {"prospecting": 500, "engaging": 1589, "won": 4238, "lost": 2473}
    assert positions == expected
    assert report.rows == 8800  # records, not lines: the header is not a row
    assert report.refused == [] and report.skipped == []
    assert report.applied == report.commands


def test_maven_owners_teams_regions_accounts_and_amounts_come_from_the_lookup_files(
    maven: tuple[SalesEngine, SourceReport],
) -> None:
    engine, _ = maven
    won = engine.deal_state("1C1I7A6R")  # Moses Frase, GTX Plus Basic, Cancity, Won 1054
    assert (won.owner, won.team, won.region) == ("Moses Frase", "Dustin Brinkmann", "Central")
    assert won.account == "Cancity"
    assert won.facts["account_sector"] == "retail"
    assert won.facts["account_office_location"] == "United States"
    assert won.facts["product"] == "GTX Plus Basic"
    assert (won.amount, won.currency) == (Decimal(1054), "USD")  # close_value once won
    assert won.opened_at == datetime(2016, 10, 20, tzinfo=UTC)
    assert won.closed_at == datetime(2017, 3, 1, tzinfo=UTC)

    lost = engine.deal_state("KWVA7VR1")  # Gladys Colclough, "GTXPro", lost for 0
    assert (lost.owner, lost.team, lost.region) == ("Gladys Colclough", "Melvin Marxen", "Central")
    assert lost.facts["product"] == "GTX Pro"  # the pipeline's spelling joined to products.csv
    assert lost.amount == Decimal(4821)  # the list price: a lost deal keeps what was at stake
    assert lost.position == "lost"

    engaging = engine.deal_state("HAXMC4IX")  # James Ascencio, MG Advanced, no account
    assert (engaging.owner, engaging.team, engaging.region) == (
        "James Ascencio",
        "Summer Sewald",
        "West",
    )
    assert engaging.account is None
    assert "account_sector" not in engaging.facts
    assert engaging.amount == Decimal(3393)
    assert engaging.stage_entered_at == datetime(2016, 11, 3, tzinfo=UTC)


def test_maven_prospecting_rows_open_on_the_data_sets_last_day_flagged_in_provenance(
    maven: tuple[SalesEngine, SourceReport],
) -> None:
    engine, _ = maven
    history = engine.history("8I5ONXJX")  # the last line: Prospecting, no dates
    (opened,) = history.events
    assert opened.effective_at == datetime(2017, 12, 31, tzinfo=UTC)
    assert opened.provenance is not None
    assert opened.provenance["line"] == "8801"
    assert opened.provenance["fallback"] == "no engage_date: at fallback_at"
    dated = engine.history("1C1I7A6R").events[0].provenance
    assert dated is not None and "fallback" not in dated


def test_reimporting_the_maven_file_adds_nothing(maven: tuple[SalesEngine, SourceReport]) -> None:
    engine, first = maven
    again = import_csv(engine, MAVEN_PIPELINE, "maven")
    assert (again.applied, again.duplicates, again.refused) == (0, first.commands, [])


# ------------------------------------------------------------------ Salesforce

EXPECTED_MOVES = {
    1: ["target", "discover", "intent", "approval", "recognition", "negotiation", "won"],
    2: ["target", "discover", "intent", "lost"],
    3: ["target", "discover", "intent", "approval", "intent", "approval", "recognition", "won"],
    4: ["target", "discover", "intent", "approval", "recognition", "lost"],
    5: ["target", "discover", "negotiation", "won"],
    6: ["target", "discover", "lost", "discover", "intent"],
    7: ["target", "approval"],
    8: ["target", "discover", "intent"],
    9: ["target", "won"],
    10: ["target", "discover", "intent", "approval", "recognition", "negotiation"],
}


def test_each_salesforce_opportunity_replays_its_stage_history_in_created_date_order(
    sqlite_engine: SalesEngine,
) -> None:
    report = import_salesforce(sqlite_engine)
    assert report.refused == []
    assert sorted(sqlite_engine.deal_keys()) == [opportunity(n) for n in EXPECTED_MOVES]
    for n, moves in EXPECTED_MOVES.items():
        assert [stage for _, stage in stage_moves(sqlite_engine, opportunity(n))] == moves, n
    # Opportunity 3's rows are out of order in the file; its history is still in order.
    days = [day for day, _ in stage_moves(sqlite_engine, opportunity(3))]
    assert days == sorted(days)


def test_salesforce_regressions_and_losses_carry_the_salesforce_stage_names(
    sqlite_engine: SalesEngine,
) -> None:
    import_salesforce(sqlite_engine)
    events = sqlite_engine.history(opportunity(3)).events
    regressed = [e for e in events if e.type.endswith("Regressed")]
    assert [e.data.get("reason") for e in regressed] == [
        "salesforce: Value Proposition -> Needs Analysis"
    ]
    lost = sqlite_engine.deal_state(opportunity(2))
    assert lost.outcome_reason == "salesforce: Needs Analysis -> Closed Lost"


def test_salesforce_moves_record_the_entry_criteria_they_need_as_facts_naming_the_stage(
    sqlite_engine: SalesEngine,
) -> None:
    import_salesforce(sqlite_engine)
    state = sqlite_engine.deal_state(opportunity(7))  # Prospecting straight to Value Proposition
    policy = sqlite_engine.catalog.get("seven-stage")
    needed = [
        c.key for key in ("discover", "intent", "approval") for c in policy.stage(key).criteria
    ]
    assert {name: state.facts.get(name) for name in needed} == dict.fromkeys(
        needed, "salesforce: Value Proposition"
    )
    untouched = sqlite_engine.deal_state(opportunity(8))  # only as far as Needs Analysis
    assert "preliminary_budget" not in untouched.facts
    assert untouched.facts["intent_confirmed"] == "salesforce: Needs Analysis"


def test_salesforce_amount_and_close_date_changes_follow_the_rows(
    sqlite_engine: SalesEngine,
) -> None:
    import_salesforce(sqlite_engine)
    won = sqlite_engine.deal_state(opportunity(1))
    assert (won.amount, won.currency, won.expected_close) == (
        Decimal("58500.00"),
        "USD",
        date(2024, 4, 2),
    )
    before = sqlite_engine.deal_state(opportunity(1), as_of=datetime(2024, 2, 1, tzinfo=UTC))
    assert (before.amount, before.expected_close) == (Decimal("55000.00"), date(2024, 4, 30))
    assert before.owner is None  # CreatedById is the actor, not the owner
    opened = sqlite_engine.history(opportunity(1)).events[0]
    assert opened.actor == "0055g00000ABcdFAAT"


def test_an_unknown_salesforce_stage_is_reported_with_its_line_and_the_rows_other_changes_apply(
    sqlite_engine: SalesEngine,
) -> None:
    report = import_salesforce(sqlite_engine)
    unknown = [p for p in report.skipped if "Closing Soon" in p.message]
    assert len(unknown) == 1
    assert unknown[0].where == "line 29"
    assert "StageName 'Closing Soon' is not in the mapping" in unknown[0].message
    with SALESFORCE_SAMPLE.open(encoding="utf-8") as handle:
        line_29 = handle.readlines()[28]
    assert ",Closing Soon,85000.00," in line_29
    on_that_day = sqlite_engine.deal_state(opportunity(5), as_of=datetime(2024, 3, 4, tzinfo=UTC))
    assert (on_that_day.amount, on_that_day.stage) == (Decimal("85000.00"), "discover")


def test_deleted_and_unchanged_salesforce_rows_are_skipped_with_their_reason(
    sqlite_engine: SalesEngine,
) -> None:
    report = import_salesforce(sqlite_engine)
    reasons = {p.where: p.message for p in report.skipped}
    assert reasons["line 50"] == "IsDeleted: deleted in Salesforce"
    assert reasons["line 40"].startswith("no change: 'Id. Decision Makers' is stage 'approval'")
    assert len(report.skipped) == 3
    assert sqlite_engine.deal_state(opportunity(10)).position == "negotiation"  # not lost


def test_reimporting_the_salesforce_export_adds_nothing(sqlite_engine: SalesEngine) -> None:
    first = import_salesforce(sqlite_engine)
    again = import_salesforce(sqlite_engine)
    assert first.applied == first.commands > 100
    assert (again.applied, again.duplicates, again.refused) == (0, first.commands, [])


def test_a_row_changed_since_it_was_imported_is_refused_not_ignored(
    sqlite_engine: SalesEngine, tmp_path: Path
) -> None:
    import_salesforce(sqlite_engine)
    lines = SALESFORCE_SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)
    assert ",Needs Analysis,55000.00," in lines[3]
    lines[3] = lines[3].replace(",Needs Analysis,55000.00,", ",Needs Analysis,65000.00,")
    edited = tmp_path / "edited.csv"
    edited.write_text("".join(lines), encoding="utf-8")
    again = import_salesforce(sqlite_engine, edited)
    changed = (
        "the row changed since it was imported, and history is not rewritten: "
        "record the change as a new command"
    )
    # Line 5 changed too: an amount change is read against the row before it, and its
    # 55000.00 now takes the amount back down from 65000.00.
    assert [(p.where, p.message) for p in again.refused] == [
        ("line 4", changed),
        ("line 5", changed),
    ]
    assert again.applied == 0
    history = sqlite_engine.history(opportunity(1)).events
    assert "65000" not in str([entry.data for entry in history])


def test_salesforce_rows_in_another_order_import_to_the_same_histories(
    sqlite_engine: SalesEngine, tmp_path: Path
) -> None:
    lines = SALESFORCE_SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)
    body = lines[1:]
    random.Random(3).shuffle(body)
    shuffled = tmp_path / "shuffled.csv"
    shuffled.write_text("".join([lines[0], *body]), encoding="utf-8")
    import_salesforce(sqlite_engine, shuffled)
    for n, moves in EXPECTED_MOVES.items():
        assert [stage for _, stage in stage_moves(sqlite_engine, opportunity(n))] == moves, n
    assert sqlite_engine.deal_state(opportunity(1)).amount == Decimal("58500.00")


def test_the_import_command_reads_a_salesforce_export(tmp_path: Path) -> None:
    proc = run_cli(
        "import", str(SALESFORCE_SAMPLE), "--format", "salesforce", db=tmp_path / "cli.db"
    )
    assert proc.returncode == 0, proc.stderr
    # 51 rows: 49 imported, 2 skipped (a deleted row and an unchanged one); the row of an
    # unknown stage still imports its amount change.
    assert (
        "rows: 49 imported, 0 already imported, 0 refused, 2 skipped; "
        "commands: 168 applied, 0 already applied" in proc.stdout
    )


# ------------------------------------------------------------------ bad inputs

MINI_MAPPING = """\
policy: maven
id: opportunity_id
stage: deal_stage
currency: USD
histories:
  Engaging:
    - {cmd: open, at: engage_date}
    - {cmd: advance, to: engaging, at: engage_date}
  Won:
    - {cmd: open, at: engage_date}
    - {cmd: advance, to: engaging, at: engage_date}
    - {cmd: won, at: close_date, amount: close_value}
lookups:
  - {file: teams.csv, column: sales_agent}
attributes: {owner: sales_agent, team: manager, amount: list_price}
facts: {product: product}
"""

TEAMS = "sales_agent,manager\nAnna Snelling,Dustin Brinkmann\nKary Hendrixson,Cara Losch\n"


def write_mini(tmp_path: Path, rows: str, mapping: str = MINI_MAPPING) -> tuple[Path, str]:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "teams.csv").write_text(TEAMS, encoding="utf-8")
    path = data / "pipeline.csv"
    path.write_text(rows, encoding="utf-8")
    mapping_path = tmp_path / "mini.yaml"
    mapping_path.write_text(mapping, encoding="utf-8")
    return path, str(mapping_path)


def test_a_bom_quoted_fields_and_lookups_next_to_the_data_are_read_with_physical_lines(
    sqlite_engine: SalesEngine, tmp_path: Path
) -> None:
    rows = (
        "\ufeffopportunity_id,sales_agent,product,deal_stage,engage_date,close_date,"
        "close_value,list_price\n"
        'A1,Anna Snelling,"GTX ""Pro"", rack\nmount",Won,2017-01-02,2017-02-03,900,1000\n'
        "A2,Kary Hendrixson,MG Special,Engaging,2017-01-05,,,55\n"
    )
    path, mapping = write_mini(tmp_path, rows)
    report = import_csv(sqlite_engine, path, mapping)
    assert report.refused == [] and report.skipped == []
    won = sqlite_engine.deal_state("A1")
    assert won.facts["product"] == 'GTX "Pro", rack\nmount'
    assert (won.owner, won.team, won.amount, won.position) == (
        "Anna Snelling",
        "Dustin Brinkmann",
        Decimal(900),
        "won",
    )
    second = sqlite_engine.history("A2").events[0].provenance
    assert second is not None and second["line"] == "4"  # A1 spans lines 2 and 3


def test_a_missing_column_stops_the_import_naming_the_file_and_column_before_anything_is_written(
    sqlite_engine: SalesEngine, tmp_path: Path
) -> None:
    path, mapping = write_mini(
        tmp_path, "opportunity_id,sales_agent,product,deal_stage,engage_date\nA1,x,y,Won,\n"
    )
    with pytest.raises(SourceError, match=r"pipeline\.csv: line 1: missing column.*'close_date'"):
        crm_csv.read(path, mapping, None)

    header, *rows = SALESFORCE_SAMPLE.read_text(encoding="utf-8").splitlines()
    names = header.split(",")
    drop = names.index("StageName")
    cut = tmp_path / "no-stage.csv"
    cut.write_text(
        "\n".join(
            ",".join(c for i, c in enumerate(r.split(",")) if i != drop) for r in [header, *rows]
        ),
        encoding="utf-8",
    )
    with pytest.raises(SourceError, match=r"no-stage\.csv: line 1: missing column 'StageName'"):
        import_salesforce(sqlite_engine, cut)
    assert list(sqlite_engine.deal_keys()) == []


def test_a_bad_date_refuses_only_its_row_naming_the_line_and_the_column(
    sqlite_engine: SalesEngine, tmp_path: Path
) -> None:
    rows = (
        "opportunity_id,sales_agent,product,deal_stage,engage_date,close_date,close_value,list_price\n"
        "A1,Anna Snelling,MG Special,Won,2017-01-02,2017-02-30,50,55\n"
        "A2,Anna Snelling,MG Special,Engaging,2017-01-05,,,55\n"
        # Lower-case t and z: the language reads them, the CSV reader does not.
        "A3,Anna Snelling,MG Special,Won,2017-01-02,2017-02-03t10:00:00z,50,55\n"
    )
    path, mapping = write_mini(tmp_path, rows)
    report = import_csv(sqlite_engine, path, mapping)
    assert [(p.where, p.message.split(":")[0]) for p in report.refused] == [
        ("line 2, column close_date", "field 'at'"),
        ("line 4, column close_date", "field 'at'"),
    ]
    assert "day is out of range for month" in report.refused[0].message
    assert "2017-02-30" in report.refused[0].message
    assert list(sqlite_engine.deal_keys()) == ["A2"]  # nothing of A1 or A3 was half-written

    history = tmp_path / "sf.csv"
    history.write_text(
        "OpportunityId,StageName,CreatedDate,Amount,CloseDate\n"
        "006A,Prospecting,2024-03-05T14:22:10.000+0000,100,2024-06-30\n"
        "006A,Qualification,5 March 2024,100,2024-06-30\n"
        "006B,Prospecting,2024-03-06,100,30/06/2024\n"
        "006B,Qualification,2024-03-07,100,2024-07-31\n",
        encoding="utf-8",
    )
    report = import_salesforce(sqlite_engine, history)
    assert [(p.where, p.message.split(":")[0]) for p in report.refused] == [
        ("line 3, column CreatedDate", "field 'at'"),
        ("line 4", "field 'expected_close' (column CloseDate)"),
    ]
    assert sqlite_engine.deal_state("006A").stage == "target"
    later = sqlite_engine.deal_state("006B")  # opened all the same; the next row applies
    assert (later.stage, later.expected_close) == ("discover", date(2024, 7, 31))


def test_a_salesforce_row_without_its_opportunity_is_refused_not_skipped(
    sqlite_engine: SalesEngine, tmp_path: Path
) -> None:
    history = tmp_path / "sf.csv"
    history.write_text(
        "OpportunityId,StageName,CreatedDate,Amount,CloseDate\n"
        ",Prospecting,2024-03-05T10:00:00Z,100,2024-06-30\n"
        "006A,Prospecting,2024-03-05T10:00:00Z,100,2024-06-30\n",
        encoding="utf-8",
    )
    report = import_salesforce(sqlite_engine, history)
    assert [(p.where, p.message) for p in report.refused] == [
        ("line 2", "no OpportunityId: a row needs the opportunity it belongs to")
    ]
    assert (report.refused_rows, report.imported_rows, report.skipped_rows) == (1, 1, 0)
    assert list(sqlite_engine.deal_keys()) == ["006A"]


def test_every_bad_value_of_a_refused_row_is_named_so_one_pass_finds_them_all(
    sqlite_engine: SalesEngine, tmp_path: Path
) -> None:
    history = tmp_path / "sf.csv"
    history.write_text(
        "OpportunityId,StageName,CreatedDate,Amount,CloseDate\n"
        "006A,Prospecting,2024-03-05T10:00:00Z,abc,2024-02-30\n"
        "006A,Qualification,2024-03-06T10:00:00Z,1x0,2024-13-01\n",
        encoding="utf-8",
    )
    report = import_salesforce(sqlite_engine, history)
    named = [
        (p.where, p.message.split(":")[0], p.message.split("given: ")[-1]) for p in report.refused
    ]
    assert named == [
        ("line 2", "field 'amount' (column Amount)", "'abc')"),
        ("line 2", "field 'expected_close' (column CloseDate)", "'2024-02-30')"),
        ("line 3", "field 'amount' (column Amount)", "'1x0')"),
        ("line 3", "field 'expected_close' (column CloseDate)", "'2024-13-01')"),
    ]
    assert report.refused_rows == 2  # rows are counted once, whatever they are refused for
    opened = sqlite_engine.deal_state("006A")  # the bad values stand alone: the moves apply
    assert (opened.stage, opened.amount, opened.expected_close) == ("discover", None, None)


def test_a_local_time_the_clocks_skipped_or_repeated_is_refused_rather_than_guessed(
    sqlite_engine: SalesEngine, tmp_path: Path
) -> None:
    rows = (
        "opportunity_id,sales_agent,product,deal_stage,engage_date,close_date,close_value,list_price\n"
        # Berlin's clocks went from 02:00 to 03:00 on 2016-03-27, back from 03:00 to 02:00
        # on 2016-10-30.
        "Z1,Anna Snelling,MG Special,Won,2016-03-27T02:30:00,2016-10-30T02:30:00,50,55\n"
        "Z2,Anna Snelling,MG Special,Won,2016-03-27T03:30:00,2016-10-30T02:30:00+01:00,50,55\n"
        "Z3,Anna Snelling,MG Special,Won,2016-03-27,2016-10-30T01:59:59,50,55\n"
    )
    mapping = MINI_MAPPING.replace("currency: USD\n", "currency: USD\ntimezone: Europe/Berlin\n")
    path, mapping_path = write_mini(tmp_path, rows, mapping)
    report = import_csv(sqlite_engine, path, mapping_path)
    assert [(p.where, p.message) for p in report.refused] == [
        (
            "line 2, column engage_date",
            "field 'at': 2016-03-27 02:30 in Europe/Berlin did not happen (the clocks went "
            "forward); give the UTC offset (given: '2016-03-27T02:30:00')",
        ),
        (
            "line 2, column close_date",
            "field 'at': 2016-10-30 02:30 in Europe/Berlin happened twice (the clocks went "
            "back); give the UTC offset (given: '2016-10-30T02:30:00')",
        ),
    ]
    assert (report.refused_rows, report.imported_rows) == (1, 2)
    assert sorted(sqlite_engine.deal_keys()) == ["Z2", "Z3"]  # nothing of Z1 was written
    z2 = sqlite_engine.deal_state("Z2")
    assert z2.opened_at == datetime(2016, 3, 27, 1, 30, tzinfo=UTC)  # 03:30 CEST
    assert z2.closed_at == datetime(2016, 10, 30, 1, 30, tzinfo=UTC)  # the offset decides


def test_a_row_the_mapping_cannot_import_is_refused_and_one_it_leaves_out_is_skipped(
    sqlite_engine: SalesEngine, tmp_path: Path
) -> None:
    rows = (
        "opportunity_id,sales_agent,product,deal_stage,engage_date,close_date,close_value,list_price\n"
        "A1,Anna Snelling,MG Special,Won,2017-01-02,,,55\n"
        "A2,Nobody Known,MG Special,Engaging,2017-01-05,,,55\n"
        "A3,Anna Snelling,MG Special,Prospecting,,,,55\n"
        ",Anna Snelling,MG Special,Engaging,2017-01-05,,,55\n"
        "A5,Anna Snelling,MG Special,Lost,2017-01-05,2017-02-01,,55\n"
    )
    path, mapping = write_mini(
        tmp_path, rows, MINI_MAPPING.replace("lookups:", "  Lost: []\nlookups:")
    )
    report = import_csv(sqlite_engine, path, mapping)
    # Each of these would leave a deal out of the engine while the import ended well.
    assert [(p.where, p.message) for p in report.refused] == [
        ("line 2", "deal_stage 'Won' needs a close_date (no fallback_at)"),
        ("line 3", "sales_agent 'Nobody Known' is not in teams.csv"),
        (
            "line 4",
            "deal_stage 'Prospecting' is not in the mapping ('Engaging', 'Won', 'Lost'); map "
            "it, or map it to [] to leave its rows out",
        ),
        ("line 5", "no opportunity_id: a row needs its id, the deal's key"),
    ]
    # A stage mapped to no steps is left out on purpose: skipped, not refused.
    assert [(p.where, p.message) for p in report.skipped] == [
        ("line 6", "deal_stage 'Lost': the mapping leaves these rows out")
    ]
    assert (report.refused_rows, report.skipped_rows, report.rows) == (4, 1, 5)
    assert report.commands == 0 and list(sqlite_engine.deal_keys()) == []


@pytest.mark.parametrize(
    ("broken", "field"),
    [
        (MINI_MAPPING.replace("id: opportunity_id\n", ""), "field 'id': Field required"),
        (MINI_MAPPING.replace("currency: USD", "currency: dollars"), "field 'currency'"),
        (MINI_MAPPING.replace("{cmd: won,", "{cmd: triumph,"), "field 'histories.Won.2.cmd'"),
        (MINI_MAPPING.replace("to: engaging", "to: closing"), "field 'histories.Engaging.1.to'"),
        (MINI_MAPPING.replace("teams.csv", "staff.csv"), "field 'lookups.0.file'"),
    ],
)
def test_a_bad_mapping_is_a_mapping_error_naming_the_file_and_the_field(
    tmp_path: Path, broken: str, field: str
) -> None:
    path, mapping = write_mini(tmp_path, "opportunity_id\n", broken)
    with pytest.raises(MappingError) as caught:
        crm_csv.read(path, mapping, None)
    assert str(caught.value).startswith(f"{mapping}: ")
    assert field in str(caught.value)


def test_a_salesforce_mapping_onto_a_stage_the_policy_lacks_names_that_stage(
    tmp_path: Path,
) -> None:
    mapping = tmp_path / "sf.yaml"
    mapping.write_text(
        "policy: seven-stage\nstages: {Prospecting: target, Qualification: qualify}\n",
        encoding="utf-8",
    )
    with pytest.raises(MappingError, match=r"field 'stages.Qualification': 'qualify'"):
        salesforce.read(SALESFORCE_SAMPLE, str(mapping), None)


def test_a_bad_byte_near_the_end_stops_the_import_before_any_row_is_written(
    sqlite_engine: SalesEngine, tmp_path: Path
) -> None:
    # Given a file whose rows are good but for an undecodable byte on its last line
    header = (
        "opportunity_id,sales_agent,product,deal_stage,engage_date,close_date,close_value,"
        "list_price\n"
    )
    good = "".join(f"B{n},Anna Snelling,MG Special,Engaging,2017-01-05,,,55\n" for n in range(3000))
    path, mapping = write_mini(tmp_path, header + good)
    with path.open("ab") as handle:
        handle.write(b"B9999,Anna Snelling,MG \xff Special,Engaging,2017-01-05,,,55\n")
    # When it is imported, Then the import stops with the reason, and no deal was written
    with pytest.raises(SourceError, match=r"pipeline\.csv: line 3002, byte 24: not utf-8-sig text"):
        import_csv(sqlite_engine, path, mapping)
    assert list(sqlite_engine.deal_keys()) == []
    # A bad byte on the third line is named there, not where the reader's block began.
    early = tmp_path / "early.csv"
    early.write_bytes(header.encode() + b"A1,x,y,Won,2017-01-05,,,55\nA2,\xff\n")
    with pytest.raises(SourceError, match=r"early\.csv: line 3, byte 4: not utf-8-sig text"):
        import_csv(sqlite_engine, early, mapping)


def test_an_unknown_encoding_in_a_mapping_is_named(
    sqlite_engine: SalesEngine, tmp_path: Path
) -> None:
    path, mapping = write_mini(
        tmp_path,
        "opportunity_id,sales_agent,product,deal_stage,engage_date,close_date\n",
        MINI_MAPPING + "encoding: no-such-encoding\n",
    )
    with pytest.raises(SourceError, match=r"encoding 'no-such-encoding' is not known"):
        import_csv(sqlite_engine, path, mapping)
    assert list(sqlite_engine.deal_keys()) == []


# ------------------------------------------------------------------ rows whole or not at all

HEAD = (
    "opportunity_id,sales_agent,product,deal_stage,engage_date,close_date,close_value,list_price\n"
)


def test_a_row_the_policy_or_the_language_refuses_writes_none_of_its_commands(
    sqlite_engine: SalesEngine, tmp_path: Path
) -> None:
    rows = (
        HEAD + "A1,Anna Snelling,MG Special,Won,2017-01-02,2017-02-03,12x4,55\n"  # bad amount
        "A2,Anna Snelling,MG Special,Won,2017-03-02,2017-01-01,50,55\n"  # won before engaged
        "A3,Anna Snelling,MG Special,Won,2017-01-02,2017-02-03,50,55\n"
    )
    path, mapping = write_mini(tmp_path, rows)
    report = import_csv(sqlite_engine, path, mapping)
    assert [p.where for p in report.refused] == ["line 2", "line 3"]
    # Each refusal names the column behind the field, or behind the time, refused.
    assert report.refused[0].message.startswith("field 'amount' (column close_value): ")
    assert report.refused[1].message.startswith("effective time 2017-01-01")
    assert report.refused[1].message.endswith(" (column close_date)")
    assert list(sqlite_engine.deal_keys()) == ["A3"]  # nothing of A1 or A2 was written
    assert (report.imported_rows, report.refused_rows) == (1, 2)


def test_a_second_row_with_a_known_id_is_refused_whole_and_the_first_deal_is_untouched(
    sqlite_engine: SalesEngine, tmp_path: Path
) -> None:
    rows = (
        HEAD + "D1,Anna Snelling,MG Special,Engaging,2017-01-02,,,55\n"
        "D1,Anna Snelling,GTX Pro,Won,2017-01-05,2017-02-03,4000,55\n"
    )
    path, mapping = write_mini(tmp_path, rows)
    report = import_csv(sqlite_engine, path, mapping)
    assert [(p.where, p.message.split(":")[0]) for p in report.refused] == [
        ("line 3", "deal 'D1' already exists")
    ]
    state = sqlite_engine.deal_state("D1")
    assert (state.status, state.amount, state.facts["product"]) == (
        "open",
        Decimal("55"),
        "MG Special",
    )


def test_a_record_with_the_wrong_number_of_fields_is_refused_whole(
    sqlite_engine: SalesEngine, tmp_path: Path
) -> None:
    rows = (
        HEAD + "S1,Anna Snelling,MG Special,Won,2017-01-02\n"  # cut off
        "S2,Anna Snelling,MG Special,Won,2017-01-02,2017-02-03,50,55,EXTRA\n"
        "S3,Anna Snelling,MG Special,Won,2017-01-02,2017-02-03,50,55\n"
    )
    path, mapping = write_mini(tmp_path, rows)
    report = import_csv(sqlite_engine, path, mapping)
    assert [(p.where, p.message) for p in report.refused] == [
        ("line 2", "5 fields where the header has 8; the record is not read"),
        ("line 3", "9 fields where the header has 8; the record is not read"),
    ]
    assert list(sqlite_engine.deal_keys()) == ["S3"]


def test_a_stray_quote_stops_the_import_naming_the_line_before_anything_is_written(
    sqlite_engine: SalesEngine, tmp_path: Path
) -> None:
    rows = (
        HEAD + "Q1,Anna Snelling,MG Special,Won,2017-01-02,2017-02-03,50,55\n"
        'Q2,Anna Snelling,MG Special,Won,2017-01-02,2017-02-03,50,"\n'
        "Q3,Anna Snelling,MG Special,Won,2017-01-02,2017-02-03,50,55\n"
    )
    path, mapping = write_mini(tmp_path, rows)
    with pytest.raises(SourceError, match="unexpected end of data"):
        import_csv(sqlite_engine, path, mapping)
    assert list(sqlite_engine.deal_keys()) == []


def test_commands_grouped_by_row_apply_whole_even_across_a_batch_boundary(
    sqlite_engine: SalesEngine,
) -> None:
    from salesengine.application.commands import parse_command

    raw = [
        (1, {"cmd": "open", "deal": "G1", "policy": "seven-stage"}),
        (2, {"cmd": "open", "deal": "G2", "policy": "seven-stage"}),
        (2, {"cmd": "fact", "deal": "G2", "name": "basic_customer_data"}),
        (2, {"cmd": "advance", "deal": "G2", "to": "discover"}),  # criteria missing
        (3, {"cmd": "fact", "deal": "G1", "name": "it_landscape"}),
    ]
    items = [((n, row), parse_command(c), None) for n, (row, c) in enumerate(raw)]
    outcomes = list(sqlite_engine.execute_many(items, batch_size=2, group_of=lambda ref: ref[1]))
    codes = [getattr(o, "code", "applied") for _, o in outcomes]
    assert codes == ["applied", "group_refused", "group_refused", "criteria_not_met", "applied"]
    assert list(sqlite_engine.deal_keys()) == ["G1"]
    assert sqlite_engine.deal_state("G1").facts == {"it_landscape": True}
