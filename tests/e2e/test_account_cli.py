"""``salesengine account ...`` as a user runs it: recording, reading as of T known at K,
the decision chain, coverage, bad input, and a store written before accounts existed."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.cli_runner import CLI, Run


def ok(run: Run) -> Run:
    assert run.code == 0, run.err
    return run


def days_ago(n: float) -> str:
    return (datetime.now(UTC) - timedelta(days=n)).isoformat()


@pytest.fixture
def acme(cli: CLI) -> CLI:
    """Account ACME with facts, a decision chain and an activity; deal D1 naming it."""
    ok(cli("account", "open", "ACME", "--owner", "Zhou Min", "--name", "Acme 公司",
           "--team", "North", "--region", "华北", "--customer", "existing",
           "--at", days_ago(30)))  # fmt: skip
    ok(cli("account", "bp", "ACME", "1000000", "--currency", "CNY", "--at", days_ago(20)))
    ok(cli("account", "sow", "ACME", "10", "--at", days_ago(20)))
    ok(cli("account", "contact", "add", "ACME", "wang", "--name", "Wang Wei", "--title", "CIO",
           "--role", "decision_maker", "--support", "2", "--at", days_ago(20)))  # fmt: skip
    ok(cli("account", "contact", "add", "ACME", "li", "--name", "Li Na", "--role", "influencer",
           "--support", "-1", "--reports-to", "wang", "--at", days_ago(15)))  # fmt: skip
    ok(cli("account", "activity", "ACME", "--kind", "seminar", "--effective",
           "--attendee", "wang", "--at", days_ago(10)))  # fmt: skip
    close = (datetime.now(UTC) + timedelta(days=50)).date().isoformat()
    ok(cli("deal", "open", "D1", "--policy", "funnel-list", "--account", "ACME",
           "--owner", "Zhou Min", "--expected-close", close, "--at", days_ago(25)))  # fmt: skip
    return cli


def test_show_gives_fields_rad_grade_chain_activities_and_deals(acme: CLI) -> None:
    view = ok(acme("account", "show", "ACME", "--json")).json()["account"]
    assert (view["name"], view["owner"], view["team"], view["region"]) == (
        "Acme 公司", "Zhou Min", "North", "华北",
    )  # fmt: skip
    assert (view["rad"], view["grade"], view["grade_source"]) == ("D2", "B", "deals")
    assert view["cadence_days"] == 14
    assert view["in_cadence"] is True
    assert [c["contact"] for c in view["contacts"]] == ["li", "wang"]
    assert [d["deal"] for d in view["deals"]] == ["D1"]
    text = ok(acme("account", "show", "ACME")).out
    assert "RAD D2" in text
    assert "wang (Wang Wei, CIO): decision_maker, supporter (+2)" in text
    assert "    li (Li Na): influencer, leans against (-1)" in text  # under wang


def test_a_deal_visit_counts_as_a_contact_of_its_account(acme: CLI) -> None:
    ok(acme("account", "grade", "ACME", "A"))  # cadence 7 days: the seminar is too old
    assert ok(acme("account", "show", "ACME", "--json")).json()["account"]["in_cadence"] is False
    ok(acme("deal", "visit", "D1", "--at", days_ago(1)))
    view = ok(acme("account", "show", "ACME", "--json")).json()["account"]
    assert (view["grade"], view["grade_source"], view["in_cadence"]) == ("A", "set", True)
    assert view["activities"][0]["on"] == "D1"


def test_reads_as_of_t_and_known_at_k(acme: CLI) -> None:
    before = datetime.now(UTC).isoformat()
    ok(acme("account", "sow", "ACME", "60", "--at", days_ago(18)))
    now = ok(acme("account", "show", "ACME", "--as-of", days_ago(17), "--json")).json()
    assert now["account"]["rad"] == "R2"
    then = ok(acme("account", "show", "ACME", "--as-of", days_ago(17), "--known-at", before,
                   "--json")).json()  # fmt: skip
    assert then["account"]["rad"] == "D2"
    early = ok(acme("account", "show", "ACME", "--as-of", days_ago(22), "--json")).json()
    assert early["account"]["rad"] is None


def test_the_chain_as_of_t_known_at_k(acme: CLI) -> None:
    before = datetime.now(UTC).isoformat()
    ok(acme("account", "contact-left", "ACME", "wang", "--reason", "retired", "--at", days_ago(5)))
    ok(acme("account", "contact", "change", "ACME", "li", "--role", "decision_maker",
            "--clear", "reports_to", "--at", days_ago(5)))  # fmt: skip
    chain = ok(acme("account", "chain", "ACME", "--json")).json()["chain"]
    assert chain["by_role"] == {"decision_maker": ["li"]}
    assert [c["contact"] for c in chain["left"]] == ["wang"]
    old = ok(acme("account", "chain", "ACME", "--as-of", days_ago(3), "--known-at", before,
                  "--json")).json()["chain"]  # fmt: skip
    assert old["by_role"] == {"decision_maker": ["wang"], "influencer": ["li"]}
    assert [(n["contact"]["contact"], n["depth"]) for n in old["nodes"]] == [("wang", 0), ("li", 1)]
    text = ok(acme("account", "chain", "ACME")).out
    assert "decision maker: li" in text


def test_list_filters_and_coverage(acme: CLI) -> None:
    ok(acme("account", "open", "BETA", "--owner", "Zhou Min", "--at", days_ago(3)))
    ok(acme("account", "open", "GAMMA", "--owner", "Li Lei", "--team", "South"))
    rows = ok(acme("account", "list", "--json")).json()["accounts"]
    assert [r["account"] for r in rows] == ["ACME", "BETA", "GAMMA"]
    south = ok(acme("account", "list", "--team", "South", "--json")).json()["accounts"]
    assert [r["account"] for r in south] == ["GAMMA"]
    d2 = ok(acme("account", "list", "--rad", "D2", "--json")).json()["accounts"]
    assert [r["account"] for r in d2] == ["ACME"]
    soa = ok(acme("account", "coverage", "--json")).json()["coverage"]
    rows = {(r["owner"], r["grade"]): r for r in soa["rows"]}
    assert rows[("Zhou Min", "B")]["covered"] == 1
    assert rows[("Zhou Min", "D")]["never_contacted"] == 1
    assert soa["total"]["accounts"] == 3
    assert soa["total"]["covered"] == 1
    assert [u["account"] for u in soa["never_contacted"]] == ["BETA", "GAMMA"]
    past = ok(acme("account", "coverage", "--as-of", days_ago(12), "--json")).json()["coverage"]
    assert past["total"]["accounts"] == 1  # BETA and GAMMA were not open yet
    assert past["never_contacted"][0]["account"] == "ACME"  # the seminar came later
    assert "Coverage (SOA)" in ok(acme("account", "coverage")).out


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("account", "sow", "ACME", "120"), "field 'percent'"),
        (("account", "bp", "ACME", "lots", "--currency", "CNY"), "field 'amount'"),
        # Once "No such option: -1": a negative amount is refused as one.
        (
            ("account", "bp", "ACME", "-1", "--currency", "CNY"),
            "field 'amount': Input should be greater than or equal to 0 (given: '-1')",
        ),
        (("account", "sow", "ACME", "-5"), "field 'percent'"),
        (("account", "grade", "ACME", "E"), "field 'grade'"),
        (
            ("account", "contact", "add", "ACME", "x", "--name", "X", "--role", "boss"),
            "field 'role'",
        ),
        (
            (
                "account",
                "contact",
                "add",
                "ACME",
                "x",
                "--name",
                "X",
                "--role",
                "end_user",
                "--support",
                "5",
            ),
            "field 'support'",
        ),
        (
            (
                "account",
                "contact",
                "add",
                "ACME",
                "x",
                "--name",
                "X",
                "--role",
                "end_user",
                "--reports-to",
                "nobody",
            ),
            "'nobody', who is not a contact",
        ),
        (("account", "contact", "change", "ACME", "wang", "--reports-to", "li"), "would loop"),
        (
            ("account", "contact", "change", "ACME", "ghost", "--support", "1"),
            "not a contact of account 'ACME'",
        ),
        (("account", "grade", "NOPE", "A"), "unknown account 'NOPE'"),
    ],
)
def test_bad_input_is_refused_by_name_and_stores_nothing(
    acme: CLI, args: tuple[str, ...], named: str
) -> None:
    before = ok(acme("account", "show", "ACME", "--json")).json()["account"]
    run = acme(*args)
    assert run.code != 0
    assert named in run.err
    after = ok(acme("account", "show", "ACME", "--json")).json()["account"]
    for view in (before, after):
        view.pop("days_since_contact")  # T is now: it grows between the two reads
    assert after == before


def test_a_repeated_id_is_applied_once(acme: CLI) -> None:
    first = ok(acme("account", "activity", "ACME", "--kind", "call", "--id", "c-1", "--json"))
    again = ok(acme("account", "activity", "ACME", "--kind", "call", "--id", "c-1", "--json"))
    assert (first.json()["status"], again.json()["status"]) == ("applied", "duplicate")
    reused = acme("account", "activity", "ACME", "--kind", "gift", "--id", "c-1")
    assert reused.code == 1
    assert "different content" in reused.err


def test_a_store_of_deals_alone_shows_its_accounts_and_adopts_them(
    cli: CLI, store_url: str
) -> None:
    """Deals with account strings and no account event: a store written before accounts
    existed (the deal commands write exactly what they did then). On SQLite and
    PostgreSQL."""
    cli = functools.partial(cli, db_url=store_url)
    ok(cli("deal", "open", "D1", "--policy", "funnel-list", "--account", "老客户", "--owner", "ann",
           "--team", "North", "--at", days_ago(40)))  # fmt: skip
    ok(cli("deal", "open", "D2", "--policy", "funnel-list", "--account", "老客户", "--owner", "bob",
           "--at", days_ago(50)))  # fmt: skip
    ok(cli("deal", "open", "D3", "--policy", "funnel-list", "--account", "NOBODY",
           "--at", days_ago(10)))  # fmt: skip
    ok(cli("deal", "visit", "D1", "--at", days_ago(2)))
    rows = ok(cli("account", "list", "--json")).json()["accounts"]
    assert [(r["account"], r["recorded"], r["owner"]) for r in rows] == [
        ("NOBODY", False, None),
        ("老客户", False, "bob"),  # the earliest opened deal's owner
    ]
    refused = cli("account", "grade", "老客户", "A")
    assert refused.code == 1
    assert "account adopt" in refused.err
    adopted = ok(cli("account", "adopt", "--json")).json()
    assert [a["account"] for a in adopted["adopted"]] == ["老客户"]
    assert adopted["adopted"][0]["from_deal"] == "D2"
    assert [s["account"] for s in adopted["skipped"]] == ["NOBODY"]
    ok(cli("account", "adopt", "--owner", "carol"))
    rows = ok(cli("account", "list", "--json")).json()["accounts"]
    assert [(r["account"], r["recorded"], r["owner"]) for r in rows] == [
        ("NOBODY", True, "carol"),
        ("老客户", True, "bob"),
    ]
    view = ok(cli("account", "show", "老客户", "--json")).json()["account"]
    assert view["adopted_from"] == "D2"
    assert [d["deal"] for d in view["deals"]] == ["D2", "D1"]
    assert view["last_contact"] is not None
    ok(cli("account", "grade", "老客户", "A"))  # now recorded: commands are taken
    # The deals are as they were.
    assert ok(cli("history", "D1", "--json")).json()["state"]["account"] == "老客户"
    assert "adopted" in ok(cli("account", "adopt")).out  # nothing left: says 0


def test_an_unknown_account_is_refused_on_show(cli: CLI) -> None:
    ok(cli("deal", "open", "D1", "--policy", "funnel-list", "--account", "A"))
    run = cli("account", "show", "ZZZ")
    assert run.code == 1
    assert "no account 'ZZZ'" in run.err


@pytest.mark.parametrize(
    "args",
    [("show", "ACME"), ("list",), ("chain", "ACME"), ("coverage",), ("history", "A"), ("adopt",)],
    ids=lambda a: a[0],
)
def test_account_reads_of_a_missing_store_create_nothing(
    cli: CLI, tmp_path: Path, args: tuple[str, ...]
) -> None:
    typo = tmp_path / "sales-typo.db"
    run = cli("account", *args, db_url=str(typo))
    assert run.code == 2, run
    assert f"no event store at {typo}" in run.err
    assert not typo.exists()


def test_history_lists_every_event_with_both_clocks(acme: CLI) -> None:
    before = datetime.now(UTC).isoformat()
    ok(acme("account", "grade", "ACME", "C", "--at", days_ago(28)))
    events = ok(acme("account", "history", "ACME", "--json")).json()["events"]
    assert [e["type"] for e in events] == [
        "Opened", "GradeSet", "BuyingPowerSet", "ShareOfWalletSet", "ContactAdded",
        "ContactAdded", "ActivityLogged",
    ]  # fmt: skip
    assert events[1]["data"] == {"grade": "C"}
    assert events[1]["recorded_at"] > events[2]["recorded_at"]  # backdated
    known = ok(acme("account", "history", "ACME", "--known-at", before, "--json")).json()
    assert "GradeSet" not in [e["type"] for e in known["events"]]
    early = ok(acme("account", "history", "ACME", "--as-of", days_ago(25), "--json")).json()
    assert [e["after_t"] for e in early["events"]] == [False, False] + [True] * 5
