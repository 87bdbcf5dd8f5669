"""End to end: a policy file edited while deals are open re-weighs only what is entered
under the new version; the store keeps both, and `policy` shows them."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli_inputs import OPENING, iso
from tests.support.cli_runner import CLI, write_jsonl
from tests.support.services import PG_URL

FIVE_LEVEL = Path(__file__).parents[2] / "policies" / "five-level.toml"
CONTACTED = ("decision_makers_identified", "key_needs_confirmed", "meetings_recorded")


def write_acme(folder: Path, identified: int, contacted: int) -> None:
    folder.mkdir(exist_ok=True)
    toml = FIVE_LEVEL.read_text(encoding="utf-8").replace('name = "five-level"', 'name = "acme"')
    toml = re.sub(r"^probability = 10$", f"probability = {identified}", toml, flags=re.M)
    toml = re.sub(r"^probability = 25$", f"probability = {contacted}", toml, flags=re.M)
    (folder / "acme.toml").write_text(toml, encoding="utf-8")


def to_contacted(deal: str, days: float) -> list[dict[str, object]]:
    facts: list[dict[str, object]] = [
        {"cmd": "fact", "deal": deal, "name": n, "at": iso(days)} for n in CONTACTED
    ]
    return [*facts, {"cmd": "advance", "deal": deal, "to": "contacted", "at": iso(days)}]


def weighted(rows: list[dict[str, str]]) -> dict[str, str]:
    return {r["stage"]: r["weighted"] for r in rows if r["stage"] in ("identified", "contacted")}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "store.db")
    return f"{PG_URL}?schema={request.getfixturevalue('pg_schema')}"


def test_the_funnel_weighs_each_deal_with_the_policy_version_its_stage_was_entered_under(
    cli: CLI, tmp_path: Path, db: str
) -> None:
    folder = tmp_path / "policies"

    def run(*args: str) -> str:
        result = cli("--policies", str(folder), *args, db_url=db)
        assert result.code == 0, result.err
        return result.out

    # Given three deals opened under acme at 10 % (identified) and 25 % (contacted), one
    # of them contacted
    write_acme(folder, 10, 25)
    opened = [
        {"cmd": "open", "deal": d, "policy": "acme", "at": iso(0), "amount": "1000",
         "facts": OPENING}
        for d in "ABC"
    ]  # fmt: skip
    run("import", str(write_jsonl(tmp_path / "one.jsonl", [*opened, *to_contacted("C", 1)])))
    # When the policy file is edited to 20 % and 40 %, and other deals move on
    write_acme(folder, 20, 40)
    later = [
        *to_contacted("B", 3),
        {"cmd": "open", "deal": "D", "policy": "acme", "at": iso(3), "amount": "1000",
         "facts": OPENING},
    ]  # fmt: skip
    run("import", str(write_jsonl(tmp_path / "two.jsonl", later)))

    # Then the funnel as of before the edit weighs with the old probabilities
    assert weighted(cli_json(run, "funnel", "--as-of", iso(2))["rows"]) == {
        "identified": "200.0",
        "contacted": "250.00",
    }
    # and now mixed: A 10 % + D 20 %, C 25 % + B 40 %
    now = cli_json(run, "funnel")["rows"]
    assert weighted(now) == {"identified": "300.0", "contacted": "650.00"}
    grouped = cli_json(run, "funnel", "--by", "owner")["rows"]
    assert weighted(grouped) == {"identified": "300.0", "contacted": "650.00"}
    pipeline = cli_json(run, "forecast")["weighted_pipeline"]
    assert [(p["deals"], p["weighted"]) for p in pipeline] == [(4, "950.00")]

    # And `policy` shows the two versions the store keeps, the old one by its fingerprint
    listed = {p["name"]: p for p in cli_json(run, "policy", "list")}
    kept = listed["acme"]["kept_versions"]
    assert [(v["current"], v["source"]) for v in kept] == [(False, "decided"), (True, "decided")]
    old = kept[0]["version"]
    shown = cli_json(run, "policy", "show", "acme", "--version", old[:6])
    assert (shown["version"], shown["stages"][0]["probability"]) == (old, 10)
    assert cli_json(run, "policy", "show", "acme")["stages"][0]["probability"] == 20
    versions = cli_json(run, "policy", "show", "acme", "--versions")["versions"]
    assert [(v["version"], v["deals"], v["current"]) for v in versions] == [
        (old, 3, False),
        (kept[1]["version"], 2, True),  # B entered contacted and D opened under it
    ]
    assert versions[0]["first_used"] == kept[0]["recorded_at"]
    table = run("policy", "show", "acme", "--versions")
    assert old in table and "(current)" in table
    unknown = cli("--policies", str(folder), "policy", "show", "acme", "--version", "ffff",
                  db_url=db)  # fmt: skip
    assert unknown.code == 2
    assert "'ffff' is not one of the versions of 'acme'" in unknown.err


def cli_json(run: Callable[..., str], *args: str) -> Any:
    return json.loads(run(*args, "--json"))


def test_a_report_names_a_version_it_cannot_weigh_with(cli: CLI, tmp_path: Path) -> None:
    # Given a store written before versions were kept, its policy file edited since
    folder = tmp_path / "policies"
    write_acme(folder, 10, 25)
    db = tmp_path / "store.db"
    opened = {"cmd": "open", "deal": "A", "policy": "acme", "at": iso(0), "amount": "1000",
              "facts": OPENING}  # fmt: skip
    source = write_jsonl(tmp_path / "a.jsonl", [opened])
    assert cli("--policies", str(folder), "import", str(source), db_url=str(db)).code == 0
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM salesengine_policy_versions")
    write_acme(folder, 20, 40)
    # When the funnel is read
    result = cli("--policies", str(folder), "funnel", db_url=str(db))
    # Then it weighs with the file's version and says so
    assert result.code == 0, result.err
    assert "note: policy 'acme' version" in result.err
    assert "neither kept in the store nor the version of its policy file" in result.err
