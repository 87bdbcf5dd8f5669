"""Mapping files and lookup files that cannot be trusted stop an import, naming the file,
the line and why, before anything is written."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from salesengine.application.engine import SalesEngine
from salesengine.bootstrap import build_engine
from salesengine.importing import crm_csv, xes
from salesengine.importing.common.errors import MappingError, SourceError
from salesengine.importing.common.mapping_files import MAPPINGS_DIR, read_mapping
from salesengine.importing.run import check_policy_option
from salesengine.importing.sources import import_source
from salesengine.policies.catalog import PolicyCatalog
from tests.support.cli_runner import run_cli
from tests.support.clock import Clock
from tests.support.data import TEST_DATA

SMALL_XES = TEST_DATA / "xes-small.xes"
BPI = (MAPPINGS_DIR / "bpi2012.yaml").read_text(encoding="utf-8")

MAPPING = """\
format: csv
policy: maven
id: opportunity_id
stage: deal_stage
fallback_at: 2017-12-31
histories:
  Engaging:
    - {cmd: open, at: engage_date}
    - {cmd: advance, to: engaging, at: engage_date}
lookups:
  - {file: products.csv, column: product}
attributes: {owner: sales_agent, amount: sales_price}
"""

PRODUCTS = "product,series,sales_price\nGTX Basic,GTX,550\nMG Special,MG,55\n"
PIPELINE = (
    "opportunity_id,sales_agent,product,deal_stage,engage_date\n"
    "A1,Anna Snelling,GTX Basic,Engaging,2017-01-02\n"
    "A2,Kary Hendrixson,MG Special,Engaging,\n"
)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[SalesEngine]:
    built = build_engine(str(tmp_path / "store.db"), clock=Clock(), actor="tester")
    yield built
    built.close()


def write(tmp_path: Path, mapping: str = MAPPING, products: str = PRODUCTS) -> tuple[Path, str]:
    """The pipeline file, its products lookup beside it, and the mapping's path."""
    (tmp_path / "products.csv").write_text(products, encoding="utf-8")
    data = tmp_path / "pipeline.csv"
    data.write_text(PIPELINE, encoding="utf-8")
    mapping_path = tmp_path / "map.yaml"
    mapping_path.write_text(mapping, encoding="utf-8")
    return data, str(mapping_path)


def write_xes_mapping(tmp_path: Path, content: str) -> str:
    path = tmp_path / "log.yaml"
    path.write_text(content, encoding="utf-8")
    return str(path)


def refused(engine: SalesEngine, data: Path, mapping: str, fmt: str = "csv") -> str:
    """The error that stops the import; nothing of the file is written."""
    reader = xes.read if fmt == "xes" else crm_csv.read
    with pytest.raises(SourceError) as caught:
        import_source(engine, data, fmt, reader(data, mapping, None, catalog=PolicyCatalog()))
    assert list(engine.deal_keys()) == []
    return str(caught.value)


# ------------------------------------------------------------------ dates in a mapping


def test_an_impossible_date_in_a_mapping_is_named_with_its_line(
    engine: SalesEngine, tmp_path: Path
) -> None:
    data, mapping = write(tmp_path, MAPPING.replace("2017-12-31", "2017-13-31"))
    message = refused(engine, data, mapping)
    assert message == (
        f"{mapping}: line 5: 2017-13-31 is not a date (month must be in 1..12); "
        "quote it if it is meant as text"
    )

    log_mapping = write_xes_mapping(
        tmp_path, BPI.replace('deal_prefix: "bpi2012-"', "deal_prefix: 2012-02-30")
    )
    message = refused(engine, SMALL_XES, log_mapping, "xes")
    assert message.startswith(f"{log_mapping}: line 8: 2012-02-30 is not a date (day is out")


def test_a_date_given_to_a_text_field_is_kept_as_written(
    engine: SalesEngine, tmp_path: Path
) -> None:
    mapping = write_xes_mapping(
        tmp_path, BPI.replace('deal_prefix: "bpi2012-"', "deal_prefix: 2012-02-28")
    )
    report = import_source(engine, SMALL_XES, "xes", xes.read(SMALL_XES, mapping, None))
    assert report.applied > 0
    assert all(key.startswith("2012-02-28") for key in engine.deal_keys())


def test_a_date_field_still_reads_an_unquoted_date(engine: SalesEngine, tmp_path: Path) -> None:
    data, mapping = write(tmp_path)
    report = import_source(engine, data, "csv", crm_csv.read(data, mapping, None))
    assert report.refused == [] and report.skipped == []
    opened = engine.history("A2").events[0]
    assert opened.effective_at.isoformat() == "2017-12-31T00:00:00+00:00"  # fallback_at, UTC


@pytest.mark.parametrize(
    ("fallback", "why"),
    [
        ("2024-03-31T02:30:00", "2024-03-31 02:30 in Europe/Amsterdam did not happen"),
        ("2024-10-27T02:30:00", "2024-10-27 02:30 in Europe/Amsterdam happened twice"),
    ],
)
def test_a_fallback_time_the_clocks_skipped_or_repeated_is_refused_not_guessed(
    engine: SalesEngine, tmp_path: Path, fallback: str, why: str
) -> None:
    zoned = MAPPING.replace(
        "fallback_at: 2017-12-31", f"timezone: Europe/Amsterdam\nfallback_at: {fallback}"
    )
    data, mapping = write(tmp_path, zoned)
    assert refused(engine, data, mapping).startswith(f"{mapping}: field 'fallback_at': {why}")
    # With its offset, the same wall time says which instant it is.
    data, mapping = write(tmp_path, zoned.replace(fallback, fallback + "+01:00"))
    report = import_source(engine, data, "csv", crm_csv.read(data, mapping, None))
    assert report.refused == []


# ------------------------------------------------------------------ keys given twice


def test_a_key_given_twice_in_a_mapping_is_refused_naming_the_key_and_both_lines(
    engine: SalesEngine, tmp_path: Path
) -> None:
    first = "  A_SUBMITTED: submitted      # opens the deal (the first event of every trace)\n"
    assert first in BPI
    line = BPI[: BPI.index(first)].count("\n") + 1
    twice = BPI.replace(first, first + "  A_SUBMITTED: partly_submitted\n")
    mapping = write_xes_mapping(tmp_path, twice)
    message = refused(engine, SMALL_XES, mapping, "xes")
    assert message == (
        f"{mapping}: line {line + 1}: key 'A_SUBMITTED' given twice (first at line {line})"
    )

    data, csv_mapping = write(tmp_path, MAPPING + "policy: seven-stage\n")
    assert refused(engine, data, csv_mapping) == (
        f"{csv_mapping}: line 13: key 'policy' given twice (first at line 2)"
    )


def test_keys_merged_from_an_anchor_may_be_overridden(tmp_path: Path) -> None:
    path = tmp_path / "merge.yaml"
    path.write_text("base: &b {a: 1, b: 2}\nmore:\n  <<: *b\n  b: 3\n", encoding="utf-8")
    assert read_mapping(str(path))[1]["more"] == {"a": 1, "b": 3}


# ------------------------------------------------------------------ lookup files


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        ("GTX Basic,GTX,999\n", "line 4: product 'GTX Basic' given twice (first at line 2)"),
        ("Broken,row\n", "line 4: 2 fields where the header has 3"),
    ],
)
def test_a_lookup_file_with_a_key_twice_or_a_misfit_row_stops_the_import(
    engine: SalesEngine, tmp_path: Path, extra: str, why: str
) -> None:
    data, mapping = write(tmp_path, products=PRODUCTS + extra)
    assert refused(engine, data, mapping) == f"{tmp_path / 'products.csv'}: {why}"


def test_a_lookup_file_naming_a_column_twice_stops_the_import(
    engine: SalesEngine, tmp_path: Path
) -> None:
    products = "product,series,series,sales_price\nGTX Basic,GTX,GTY,550\n"
    data, mapping = write(tmp_path, products=products)
    assert refused(engine, data, mapping) == (
        f"{tmp_path / 'products.csv'}: line 1: column 'series' (joined from products.csv) "
        "appears 2 times (columns 2, 3); keep one"
    )


def test_lookup_rows_without_a_key_are_left_out(engine: SalesEngine, tmp_path: Path) -> None:
    data, mapping = write(tmp_path, products=PRODUCTS + ",none,1\n,none,2\n")
    report = import_source(engine, data, "csv", crm_csv.read(data, mapping, None))
    assert report.refused == [] and report.skipped == []


# ------------------------------------------------------------------ --policy


def test_an_unknown_policy_option_is_blamed_on_the_option() -> None:
    with pytest.raises(SourceError) as caught:
        check_policy_option("nope", PolicyCatalog())
    assert str(caught.value).startswith("--policy: unknown policy 'nope' (known: ")
    assert not isinstance(caught.value, MappingError)
    check_policy_option(None, PolicyCatalog())
    check_policy_option("maven", PolicyCatalog())


# ------------------------------------------------------------------ the command


def run_import(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Run where the files are: short names in the messages.
    return run_cli("import", *args, db=tmp_path / "cli.db", cwd=tmp_path)


@pytest.mark.parametrize(
    ("mapping", "products", "option", "error"),
    [
        (
            MAPPING.replace("2017-12-31", "2017-13-31"),
            PRODUCTS,
            [],
            "map.yaml: line 5: 2017-13-31 is not a date (month must be in 1..12)",
        ),
        (MAPPING + "policy: x\n", PRODUCTS, [], "map.yaml: line 13: key 'policy' given twice"),
        (
            MAPPING,
            PRODUCTS + "GTX Basic,GTX,999\n",
            [],
            "products.csv: line 4: product 'GTX Basic' given twice (first at line 2)",
        ),
        (MAPPING, PRODUCTS, ["--policy", "nope"], "--policy: unknown policy 'nope' (known: "),
    ],
    ids=["impossible date", "key twice", "lookup key twice", "unknown --policy"],
)
def test_the_import_command_exits_2_naming_the_problem_and_writes_nothing(
    tmp_path: Path, mapping: str, products: str, option: list[str], error: str
) -> None:
    write(tmp_path, mapping, products)
    proc = run_import(tmp_path, "pipeline.csv", "--format", "csv", "--mapping", "map.yaml", *option)
    assert proc.returncode == 2, proc.stderr
    shown = proc.stderr.strip()  # the progress display leaves a blank line
    assert shown.startswith(f"error: {error}")
    assert "\n" not in shown  # one line, no traceback
    assert not (tmp_path / "cli.db").exists()
