"""End to end: the demo leaves a store in which a new user finds the key-account method:
accounts with their RAD cells, grades and decision chains (some changed during the
quarter), quotas (one raised), the case review, the V value, the plan per rep, the
portfolio and a short list of anomalies."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli_runner import Run, run_cli

END = "2026-06-30"  # the quarter's last day (its anchor is 00:00 UTC that day)
BEFORE_CHANGES = "2026-06-01"  # before the quarter's last three weeks
LI_WEI_BOOK = ["Huaxin Steel", "Jinling Pharma", "Pearl River Logistics", "Northwind Power"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("demo-store") / "store.db"
    done = run_cli("demo", "--end", END, db=db)
    assert done.returncode == 0, done.stderr
    (db.parent / "demo.out").write_text(done.stdout, encoding="utf-8")
    return db


def cli(db: Path, *args: str) -> Run:
    done = run_cli(*args, db=db)
    assert done.returncode == 0, (args, done.stderr)
    return Run(done.returncode, done.stdout, done.stderr)


def as_json(db: Path, *args: str) -> Any:
    return json.loads(cli(db, *args, "--json").out)


def test_the_demo_summary_points_to_the_key_account_commands(demo: Path) -> None:
    out = (demo.parent / "demo.out").read_text(encoding="utf-8")
    assert "Accounts: 60 in the reps' books" in out
    assert "Wang Fang's raised to 14,000,000.00" in out
    for command in ("review --owner", "account show", "account chain", "account coverage",
                    "quota list --known-at", "vvalue", "plan --per rep --period 2026-Q2",
                    "portfolio shape", "anomalies"):  # fmt: skip
        assert command in out, command
    # The guard refuses some deal moves on purpose; no account or quota command is refused.
    assert ":account:" not in out and ":quota:" not in out
    again = run_cli("demo", "--end", END, db=demo)
    accounts_line = next(x for x in again.stdout.splitlines() if x.startswith("Accounts:"))
    assert "(0 commands applied," in accounts_line and " 0 already present" not in accounts_line
    assert "(0 set, 16 already present)" in again.stdout


def test_accounts_have_owners_rad_cells_and_grades(demo: Path) -> None:
    listed = as_json(demo, "account", "list", "--as-of", END)["accounts"]
    assert len(listed) == 60 and all(a["recorded"] for a in listed)
    mine = [a for a in listed if a["owner"] == "Li Wei"]
    assert {a["account"] for a in mine} == {*LI_WEI_BOOK, "Taihu Textiles"}
    by_key = {a["account"]: a for a in listed}
    huaxin = by_key["Huaxin Steel"]
    assert (huaxin["rad"], huaxin["grade"], huaxin["grade_source"]) == ("R1", "A", "set")
    assert (huaxin["industry"], huaxin["region"]) == ("steel", "Beijing")
    assert {a["grade"] for a in listed} >= {"A", "B", "C", "D"}
    assert len({a["rad"] for a in listed}) >= 4
    only_a = as_json(demo, "account", "list", "--as-of", END, "--grade", "A", "--owner", "Li Wei")
    assert "Huaxin Steel" in {a["account"] for a in only_a["accounts"]}


def test_an_account_read_as_of_earlier_shows_its_old_share_grade_and_support(demo: Path) -> None:
    now = as_json(demo, "account", "show", "Huaxin Steel", "--as-of", END)["account"]
    then = as_json(demo, "account", "show", "Huaxin Steel", "--as-of", BEFORE_CHANGES)["account"]
    assert (Decimal(now["share_of_wallet"]), now["rad"]) == (Decimal(55), "R1")
    assert (Decimal(then["share_of_wallet"]), then["rad"]) == (Decimal(30), "D1")
    support = {c["contact"]: c["support"] for c in now["contacts"]}
    support_then = {c["contact"]: c["support"] for c in then["contacts"]}
    assert (support_then["gm"], support["gm"]) == (0, 2)
    upgraded = "Jinling Pharma"
    assert as_json(demo, "account", "show", upgraded, "--as-of", END)["account"]["grade"] == "A"
    old = as_json(demo, "account", "show", upgraded, "--as-of", BEFORE_CHANGES)["account"]
    assert (old["grade"], old["grade_source"]) == ("B", "set")


def test_a_corrected_buying_power_shows_the_old_figure_known_at_before_the_correction(
    demo: Path,
) -> None:
    key = "Pearl River Logistics"
    now = as_json(demo, "account", "show", key, "--as-of", END)["account"]
    known = as_json(demo, "account", "show", key, "--as-of", END, "--known-at", "2026-06-15")
    assert Decimal(now["buying_power"]) == 1_500_000 and now["rad"].endswith("1")
    old = known["account"]
    assert Decimal(old["buying_power"]) == 800_000 and old["rad"].endswith("2")


def test_the_decision_chain_has_roles_a_reporting_line_and_a_contact_who_left(
    demo: Path,
) -> None:
    chain = as_json(demo, "account", "chain", "Jinling Pharma", "--as-of", END)["chain"]
    present = {n["contact"]["contact"]: n for n in chain["nodes"]}
    assert set(present) == {"gm", "cfo", "cio", "fin"}
    assert present["gm"]["depth"] == 0 and present["gm"]["contact"]["role"] == "decision_maker"
    assert present["fin"]["contact"]["reports_to"] == "cfo" and present["fin"]["depth"] == 2
    assert [c["contact"] for c in chain["left"]] == ["it"]
    # The IT manager left a month before the quarter's end.
    before = as_json(demo, "account", "chain", "Jinling Pharma", "--as-of", "2026-05-15")
    assert "it" in {n["contact"]["contact"] for n in before["chain"]["nodes"]}


def test_coverage_names_accounts_never_contacted_and_overdue(demo: Path) -> None:
    coverage = as_json(demo, "account", "coverage", "--as-of", END)["coverage"]
    never = {a["account"] for a in coverage["never_contacted"]}
    assert "Taihu Textiles" in never and len(never) == 4  # every third rep's new prospect
    assert len(coverage["overdue"]) >= 4  # the dormant accounts at least
    li_wei = [r for r in coverage["rows"] if r["owner"] == "Li Wei"]
    assert sum(r["accounts"] for r in li_wei) == 5


def test_quotas_per_rep_and_team_and_the_raise_known_at_before_it(demo: Path) -> None:
    def quota(listing: Any, subject: str, period: str) -> Decimal:
        rows = [q for q in listing["quotas"] if (q["subject"], q["period"]) == (subject, period)]
        assert len(rows) == 1, (subject, period)
        return Decimal(rows[0]["amount"])

    now = as_json(demo, "quota", "list", "--year", "2026", "--as-of", END)
    assert quota(now, "Wang Fang", "2026") == 14_000_000
    assert quota(now, "Wang Fang", "2026-Q2") == 3_500_000
    assert quota(now, "Li Wei", "2026-Q2") == 3_000_000
    assert quota(now, "North 华北", "2026-Q2") == 10_500_000
    before = as_json(
        demo, "quota", "list", "--year", "2026", "--as-of", END, "--known-at", BEFORE_CHANGES
    )
    assert quota(before, "Wang Fang", "2026") == 12_000_000


def test_vvalue_and_the_plan_per_rep_have_every_rep(demo: Path) -> None:
    vvalue = as_json(demo, "vvalue", "--period", "2026-Q2", "--as-of", END)
    reps = {r["subject"]: r for r in vvalue["rows"] if r["kind"] == "rep"}
    assert len(reps) == 12
    assert Decimal(reps["Li Wei"]["quota"]) == 3_000_000
    assert any(Decimal(r["won"]) > 0 for r in reps.values())
    plan = cli(demo, "plan", "--per", "rep", "--period", "2026-Q2", "--as-of", END)
    assert "Plan for rep Li Wei" in plan.out and "Plan for rep Wang Fang" in plan.out


def test_the_review_lists_an_a_deal_with_key_information_and_a_missing_item(demo: Path) -> None:
    review = as_json(demo, "review", "--owner", "Li Wei", "--as-of", END)
    a_deals = next(g for g in review["grades"] if g["grade"] == "A")["deals"]
    assert a_deals, "Li Wei has A deals"
    assert all(d["account"] in LI_WEI_BOOK for d in a_deals)
    gaps = [d for d in a_deals if d["key_info"] and d["missing"]]
    assert gaps, "an A deal with key information and something missing"
    assert set(gaps[0]["missing"]) <= {
        "schedule", "budget", "requirement", "decision", "competition", "evaluation"
    }  # fmt: skip
    assert review["accounts"]["per_grade"]["A"] >= 1


def test_the_portfolio_shape_has_each_rep(demo: Path) -> None:
    shape = as_json(demo, "portfolio", "shape", "--as-of", END)
    assert sum(g["level"] == "rep" for g in shape["groups"]) == 12
    assert shape["groups"][-1]["open"] > 0


def test_anomalies_list_the_few_late_visits_not_the_whole_quarter(demo: Path) -> None:
    anomalies = as_json(demo, "anomalies", "--as-of", END)
    counts = anomalies["counts"]
    # About one visit in a hundred is logged late; everything else the evening it happened.
    assert 5 <= counts["backdated"] <= 40, counts
    assert set(anomalies["backdated_events"]) == {"visit"}
    late = [r for r in anomalies["rows"] if r["kind"] == "backdated"]
    assert all(8 <= r["evidence"]["delay_days"] <= 21 for r in late)
    assert counts["over_stage_limit"] > 0 and counts["next_step_overdue"] > 0
    # A few deals lost a piece of the evidence their stage asked for.
    assert counts["criteria_lapsed"] > 0
    lapsed = next(r for r in anomalies["rows"] if r["kind"] == "criteria_lapsed")
    assert lapsed["position"] in ("contacted", "qualified", "developed", "committed")
