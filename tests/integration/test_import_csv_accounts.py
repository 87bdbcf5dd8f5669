"""A CRM export's accounts file recorded as account events beside the deals (the Maven
sample's accounts.csv; docs/importing.md, "Accounts")."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from salesengine.application.accounts import Accounts
from salesengine.application.engine import SalesEngine
from salesengine.bootstrap import build_engine
from salesengine.importing.common.errors import MappingError, SourceError
from salesengine.importing.crm_accounts import CsvAccounts
from tests.support.cli_runner import run_cli
from tests.support.data import MAVEN_PIPELINE, shared_data

MAVEN = MAVEN_PIPELINE.parent


# ------------------------------------------------------------------ the Maven sample


def earliest_deals() -> dict[str, tuple[str, str]]:
    """Each account's owner and team by the file itself: the sales agent (and manager) of
    its earliest opened deal, a row without engage_date opening on the data set's last
    day, ties by opportunity id."""
    with (MAVEN / "sales_teams.csv").open(encoding="utf-8") as handle:
        manager = {r["sales_agent"]: r["manager"] for r in csv.DictReader(handle)}
    first: dict[str, tuple[str, str, str]] = {}
    with MAVEN_PIPELINE.open(encoding="utf-8") as handle:
        for r in csv.DictReader(handle):
            if r["account"]:
                mine = (r["engage_date"] or "2017-12-31", r["opportunity_id"], r["sales_agent"])
                first[r["account"]] = min(first.get(r["account"], mine), mine)
    return {key: (agent, manager[agent]) for key, (_, _, agent) in first.items()}


@pytest.fixture(scope="module")
def maven(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, SalesEngine, str]]:
    pipeline = shared_data(MAVEN_PIPELINE)
    db = tmp_path_factory.mktemp("maven-accounts") / "store.db"
    done = run_cli("import", str(pipeline), "--mapping", "maven", db=db)
    assert done.returncode == 0, done.stderr
    engine = build_engine(str(db), actor="tester")
    yield db, engine, done.stdout
    engine.close()


def test_each_maven_account_is_recorded_with_its_sector_office_and_buying_power(
    maven: tuple[Path, SalesEngine, str],
) -> None:
    _, engine, out = maven
    assert "accounts: 85 recorded, 0 already recorded, 0 refused, 0 skipped" in out
    accounts = Accounts(engine)
    owners = earliest_deals()
    with (MAVEN / "accounts.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(accounts.keys()) == sorted(r["account"] for r in rows)
    for line, row in enumerate(rows, start=2):
        state = accounts.state(row["account"])
        assert (state.industry, state.region) == (row["sector"], row["office_location"])
        assert (state.owner, state.team) == owners[row["account"]]
        # Revenue is in millions of USD; the mapping takes 1% of it as buying power.
        assert state.buying_power == Decimal(row["revenue"]) * 10_000
        assert state.bp_currency == "USD"
        opening = accounts.events(row["account"]).timeline[0]
        assert opening.provenance is not None
        assert opening.provenance["line"] == str(line)
        assert opening.provenance["source"].endswith("accounts.csv")
        assert opening.provenance["source_id"] == row["account"]


def test_an_account_opens_when_its_earliest_deal_opened_and_notes_its_source_figures(
    maven: tuple[Path, SalesEngine, str],
) -> None:
    _, engine, _ = maven
    acme = Accounts(engine).events("Acme Corporation").timeline
    assert [type(e).__name__ for e in acme] == ["Opened", "BuyingPowerSet"]
    assert acme[0].effective_at == acme[1].effective_at == datetime(2016, 11, 12, tzinfo=UTC)
    note = getattr(acme[1], "note", "")
    assert "revenue 1100.04" in note and "employees 2822" in note


def test_reimporting_the_maven_file_records_no_account_twice(
    maven: tuple[Path, SalesEngine, str],
) -> None:
    db, engine, _ = maven
    accounts = Accounts(engine)
    opened = accounts.keys()
    versions = {key: accounts.events(key).version for key in opened}
    again = run_cli("import", str(MAVEN_PIPELINE), "--mapping", "maven", db=db)
    assert again.returncode == 0, again.stderr
    assert "accounts: 0 recorded, 85 already recorded, 0 refused, 0 skipped" in again.stdout
    assert {key: accounts.events(key).version for key in versions} == versions


# ------------------------------------------------------------------ small files

MAPPING = """\
policy: maven
id: opportunity_id
stage: deal_stage
currency: USD
histories:
  Engaging:
    - {cmd: open, at: engage_date}
    - {cmd: advance, to: engaging, at: engage_date}
lookups:
  - {file: teams.csv, column: sales_agent}
  - {file: accounts.csv, column: account}
accounts:
  file: accounts.csv
  industry: sector
  region: office_location
  buying_power: {column: revenue, unit: 1000000, share: 0.01, currency: USD}
  notes: [employees]
attributes: {account: account, owner: sales_agent, team: manager}
"""
TEAMS = "sales_agent,manager\nAnna Snelling,Dustin Brinkmann\nKary Hendrixson,Cara Losch\n"
ACCOUNTS = (
    "account,sector,revenue,employees,office_location\n"
    "Acme,retail,120.5,900,Kenya\n"
    "Betatech,medical,80,300,Japan\n"
    "Lonely,software,10,20,Italy\n"
)
PIPELINE = (
    "opportunity_id,sales_agent,account,deal_stage,engage_date\n"
    "A2,Kary Hendrixson,Acme,Engaging,2017-03-01\n"
    "A1,Anna Snelling,Acme,Engaging,2017-02-01\n"
    "B1,Kary Hendrixson,Betatech,Engaging,2017-02-15\n"
)


def write_files(tmp_path: Path, accounts: str = ACCOUNTS, mapping: str = MAPPING) -> Path:
    (tmp_path / "teams.csv").write_text(TEAMS, encoding="utf-8")
    (tmp_path / "accounts.csv").write_text(accounts, encoding="utf-8")
    (tmp_path / "mini.yaml").write_text(mapping, encoding="utf-8")
    path = tmp_path / "pipeline.csv"
    path.write_text(PIPELINE, encoding="utf-8")
    return path


def import_mini(tmp_path: Path, db: Path) -> tuple[int, str, str]:
    mapping = str(tmp_path / "mini.yaml")
    done = run_cli("import", str(tmp_path / "pipeline.csv"), "--mapping", mapping, db=db)
    return done.returncode, done.stdout, done.stderr


def test_given_small_files_each_named_account_is_owned_by_its_earliest_deals_owner(
    tmp_path: Path,
) -> None:
    write_files(tmp_path)
    db = tmp_path / "store.db"
    code, out, err = import_mini(tmp_path, db)
    assert code == 0, err
    assert "accounts: 2 recorded, 0 already recorded, 0 refused, 1 skipped" in out
    assert "accounts.csv: skipped 1: no deal of the file with an owner names this account" in err
    engine = build_engine(str(db), actor="t")
    try:
        acme = Accounts(engine).state("Acme")
        assert (acme.owner, acme.team, acme.industry, acme.region) == (
            "Anna Snelling", "Dustin Brinkmann", "retail", "Kenya"
        )  # fmt: skip
        assert acme.buying_power == Decimal("1205000.00")
        assert sorted(Accounts(engine).keys()) == ["Acme", "Betatech"]
    finally:
        engine.close()


@pytest.mark.parametrize("revenue", ["12x4", "-3", "NaN", "inf"])
def test_a_bad_revenue_names_the_line_and_column_and_nothing_is_written(
    tmp_path: Path, revenue: str
) -> None:
    path = write_files(tmp_path, ACCOUNTS.replace("80,300", f"{revenue},300"))
    bad = r"accounts\.csv: line 3: column revenue: .* not a number"
    with pytest.raises(SourceError, match=bad):
        CsvAccounts.read(path, str(tmp_path / "mini.yaml"))
    db = tmp_path / "store.db"
    code, _, err = import_mini(tmp_path, db)
    assert code == 2
    assert "accounts.csv: line 3: column revenue" in err and repr(revenue) in err
    assert not db.exists()  # the file is refused before the store is made


def test_a_value_an_account_takes_not_names_the_line_and_column_before_anything_is_written(
    tmp_path: Path,
) -> None:
    write_files(tmp_path, ACCOUNTS.replace("Betatech,medical", "Betatech," + "m" * 300))
    db = tmp_path / "store.db"
    code, _, err = import_mini(tmp_path, db)
    assert code == 2
    assert "accounts.csv: line 3: field 'industry' (column sector)" in err
    assert not db.exists()


def test_an_account_recorded_otherwise_is_refused_and_the_others_are_recorded(
    tmp_path: Path,
) -> None:
    write_files(tmp_path)
    db = tmp_path / "store.db"
    opened = run_cli("account", "open", "Acme", "--owner", "Someone Else", db=db)
    assert opened.returncode == 0, opened.stderr
    code, out, err = import_mini(tmp_path, db)
    assert code == 1
    assert "accounts: 1 recorded, 0 already recorded, 1 refused, 1 skipped" in out
    assert "accounts.csv: line 2: refused: account 'Acme' was recorded otherwise" in err
    engine = build_engine(str(db), actor="t")
    try:
        assert Accounts(engine).state("Acme").owner == "Someone Else"
        assert Accounts(engine).events("Acme").version == 1
    finally:
        engine.close()


def test_a_revenue_changed_since_the_import_is_refused_not_rewritten(tmp_path: Path) -> None:
    write_files(tmp_path)
    db = tmp_path / "store.db"
    assert import_mini(tmp_path, db)[0] == 0
    write_files(tmp_path, ACCOUNTS.replace("120.5", "130"))
    code, out, err = import_mini(tmp_path, db)
    assert code == 1
    assert "accounts: 0 recorded, 1 already recorded, 1 refused, 1 skipped" in out
    assert "line 2: refused: the row changed since it was imported" in err


def test_an_accounts_file_that_is_no_lookup_is_a_mapping_error(tmp_path: Path) -> None:
    path = write_files(tmp_path, mapping=MAPPING.replace("file: accounts.csv\n", "file: x.csv\n"))
    with pytest.raises(MappingError, match=r"'x\.csv' is none of the lookups' files"):
        CsvAccounts.read(path, str(tmp_path / "mini.yaml"))
