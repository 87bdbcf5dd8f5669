"""End to end: bad input at the command line is refused clearly and changes nothing."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from salesengine.policies import catalog
from tests.support.cli_inputs import OPENING, iso, pipeline
from tests.support.cli_runner import CLI, write_jsonl


def stored(tmp_path: Path) -> int:
    with sqlite3.connect(tmp_path / "store.db") as db:
        return int(db.execute("SELECT count(*) FROM stored_events").fetchone()[0])


@pytest.mark.parametrize(
    "args",
    [
        ("funnel", "--as-of", "20260331"),  # digits are not seconds since 1970
        ("history", "A", "--as-of", "1767300000"),
        ("forecast", "--as-of", "9999-12-31T23:59:59Z"),  # its weeks would pass year 9999
        ("health", "--as-of", "0001-01-01T00:00:00Z"),
        ("conversion", "--from", "0001-01-01", "--to", "2026-01-01"),
        ("plan", "--target", "5000", "--period", "9999-W52"),
        ("plan", "--target", "5000", "--period", "0001-01-01T00:00:00Z..0001-02-01T00:00:00Z"),
    ],
)
def test_instants_that_are_not_iso_or_out_of_range_are_refused_by_option(
    cli: CLI, tmp_path: Path, args: tuple[str, ...]
) -> None:
    assert cli("import", str(pipeline(tmp_path))).code == 0
    before = stored(tmp_path)
    done = cli(*args)
    assert done.code == 2, done.err
    assert "Traceback" not in done.err
    assert "ISO 8601" in done.err or "must fall between 1900-01-01" in done.err
    assert stored(tmp_path) == before


def test_an_imported_instant_of_digits_is_refused_with_its_line(cli: CLI, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "epoch.jsonl",
        [{"cmd": "open", "deal": "E", "policy": "five-level", "at": "1767300000",
          "facts": OPENING}],
    )  # fmt: skip
    done = cli("import", str(path))
    assert done.code == 1
    assert "epoch.jsonl:1: refused: field 'at'" in done.err
    assert "must be ISO 8601" in done.err


def test_a_key_given_twice_in_a_line_refuses_that_line_alone(cli: CLI, tmp_path: Path) -> None:
    facts = json.dumps(OPENING)[1:-1]
    path = write_jsonl(
        tmp_path / "twice.jsonl",
        [
            {"cmd": "open", "deal": "A", "policy": "five-level", "at": iso(0), "facts": OPENING},
            # Which deal is meant? A parser would silently keep the last.
            f'{{"cmd": "open", "deal": "B", "policy": "five-level", "deal" : "C", '
            f'"at": "{iso(0)}", "facts": {{{facts}}}}}',
            f'{{"cmd": "open", "deal": "D", "policy": "five-level", "at": "{iso(0)}", '
            f'"facts": {{{facts}, "need_determined": false}}}}',
            # A quote and a colon inside a value are no key.
            {"cmd": "visit", "deal": "A", "at": iso(1), "note": 'said "budget": yes'},
        ],
    )
    for workers in ("1", "2"):
        db = tmp_path / f"w{workers}.db"
        done = cli("import", str(path), "--workers", workers, db_url=str(db))
        assert done.code == 1, done.err
        refused = sorted(line for line in done.err.splitlines() if "refused" in line)
        assert refused == [
            f"{path}:2: refused: key 'deal' appears twice: which value is meant?",
            f"{path}:3: refused: key 'need_determined' appears twice: which value is meant?",
        ]
        assert "2 applied, 0 already applied, 2 refused" in done.out
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT count(*) FROM stored_events").fetchone()[0] == 2


def test_a_line_edited_under_an_id_already_applied_is_refused(cli: CLI, tmp_path: Path) -> None:
    opening = {"cmd": "open", "id": "o-1", "deal": "A", "policy": "five-level", "at": iso(0),
               "facts": OPENING}  # fmt: skip
    amount = {"cmd": "amount", "id": "a-1", "deal": "A", "amount": "100", "at": iso(1)}
    path = write_jsonl(tmp_path / "ids.jsonl", [opening, amount])
    assert cli("import", str(path)).code == 0
    before = stored(tmp_path)
    assert "0 applied, 2 already applied" in cli("import", str(path)).out  # a retry
    write_jsonl(path, [opening, {**amount, "amount": "200"}])
    done = cli("import", str(path))
    assert done.code == 1
    assert (
        f"{path}:2: refused: command id 'a-1' was already applied to deal 'A' with different "
        "content" in done.err
    )
    assert "0 applied, 1 already applied, 1 refused" in done.out
    assert stored(tmp_path) == before


def test_a_chart_that_cannot_be_written_is_refused_before_the_report(
    cli: CLI, tmp_path: Path
) -> None:
    assert cli("import", str(pipeline(tmp_path))).code == 0
    (tmp_path / "taken.html").mkdir()
    for args in (
        ("funnel", "--chart", str(tmp_path / "missing" / "f.png")),
        ("funnel", "--chart", str(tmp_path / "taken.html")),
        (
            "cycle-time",
            "--from",
            iso(0),
            "--to",
            iso(9),
            "--chart",
            str(tmp_path / "no" / "c.html"),
        ),
    ):
        done = cli(*args)
        assert done.code == 2, done.err
        assert "Traceback" not in done.err
        assert "--chart" in done.err


def test_reports_on_deals_of_a_policy_no_file_defines_name_it(cli: CLI, tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    text = (Path(catalog.__file__).parent / "five-level.toml").read_text(encoding="utf-8")
    (policies / "house.toml").write_text(
        text.replace('name = "five-level"', 'name = "house"'), encoding="utf-8"
    )
    opened = cli(
        "--policies", str(policies), "deal", "open", "H-1", "--policy", "house",
        *[f"--fact={name}" for name in OPENING], "--at", iso(0),
    )  # fmt: skip
    assert opened.code == 0, opened.err
    for args in (("funnel",), ("forecast",), ("health",), ("conversion", "--from", iso(0),
                 "--to", iso(9)), ("cycle-time", "--from", iso(0), "--to", iso(9))):  # fmt: skip
        done = cli(*args)
        assert done.code == 2, done.err
        assert "Traceback" not in done.err
        assert "policy 'house'" in done.err
    assert cli("--policies", str(policies), "funnel", "--json").code == 0
    # A report of another policy does not need this one's file.
    assert cli("import", str(pipeline(tmp_path))).code == 0
    window = ("--from", iso(0), "--to", iso(9))
    for report in (("funnel", "--json"), ("cycle-time", *window)):
        assert cli(*report, "--policy", "five-level").code == 0
    # A stage the deal has been in, dropped from the policy file, is named too.
    (policies / "house.toml").write_text(
        text.replace('name = "five-level"', 'name = "house"').replace(
            'key = "identified"', 'key = "spotted"'
        ),
        encoding="utf-8",
    )
    done = cli("--policies", str(policies), "funnel")
    assert done.code == 2
    assert "stage 'identified'" in done.err


def test_a_writer_name_breaking_the_language_rules_is_refused(cli: CLI, tmp_path: Path) -> None:
    assert cli("import", str(pipeline(tmp_path))).code == 0
    before = stored(tmp_path)
    for name in ("a\nb", "x" * 201, "evil\x1b[31mred"):
        done = cli("--by", name, "deal", "fact", "A", "noted")
        assert done.code == 2, done.err
        assert "--by" in done.err
    done = cli("deal", "fact", "A", "noted", env={"SALESENGINE_ACTOR": "tab\there"})
    assert done.code == 2
    assert stored(tmp_path) == before


@pytest.mark.parametrize(
    ("db", "broker"),
    [("postgresql://[bad", None), (None, "nats://[bad")],
)
def test_an_unclosed_ipv6_bracket_in_a_url_is_an_error_not_a_traceback(
    cli: CLI, db: str | None, broker: str | None
) -> None:
    if broker is not None:
        done = cli("relay", "--broker", broker, "--once")
    else:
        done = cli("funnel", db_url=db)
    assert done.code != 0
    assert "Traceback" not in done.err
    assert "Invalid IPv6 URL" in done.err


def test_a_plan_target_beyond_an_amounts_digits_is_refused(cli: CLI, tmp_path: Path) -> None:
    assert cli("import", str(pipeline(tmp_path))).code == 0
    done = cli("plan", "--target", "1e400", "--period", "2026-Q1")
    assert done.code == 2
    assert "--target" in done.err and "18 digits" in done.err


def test_importing_a_directory_or_a_device_says_which(cli: CLI, tmp_path: Path) -> None:
    (tmp_path / "adir").mkdir()
    done = cli("import", str(tmp_path / "adir"))
    assert done.code == 2 and "is a directory" in done.err
    done = cli("import", "/dev/null")
    assert done.code == 2 and "not a regular file" in done.err
    done = cli("import", str(tmp_path / "absent.jsonl"))
    assert done.code == 2 and "no such file" in done.err
    assert not (tmp_path / "store.db").exists()


def test_a_fact_value_nested_too_deeply_is_refused_not_a_traceback(
    cli: CLI, tmp_path: Path
) -> None:
    assert cli("import", str(pipeline(tmp_path))).code == 0
    done = cli("deal", "fact", "A", "deep", "[" * 1200 + "]" * 1200)
    assert done.code == 2
    assert "Traceback" not in done.err and "nested too deeply" in done.err
