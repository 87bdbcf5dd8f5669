"""POST /api/v1/commands with account and quota commands: each applied with the
principal as actor, kept to the caller's role and scope, idempotent by id, refused
naming the field or the command, and all or nothing with the deals' commands."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from salesengine.access.roles import Role
from salesengine.application.account_commands import parse_account_command
from salesengine.application.accounts import Accounts
from salesengine.application.batch import WRITE_RETRIES
from salesengine.application.engine import SalesEngine
from salesengine.application.quotas import Quotas
from salesengine.bootstrap import build_engine
from tests.service.conftest import Api
from tests.support.commands import FIVE_LEVEL_OPENING

AT = "2026-03-20T10:00:00+00:00"
OPEN_ACME = {
    "cmd": "account_open",
    "account": "Acme 艾克米",
    "owner": "ana",
    "team": "north",
    "industry": "chemicals",
    "customer": "existing",
    "at": AT,
}
ACME = OPEN_ACME["account"]
NORTH_2026 = {"cmd": "set_quota", "team": "north", "period": "2026", "amount": "400000"}
NORTH_2026 |= {"currency": "CNY", "at": AT}


def written(api: Api) -> int:
    """How many events the store holds: a refusal must leave it where it was."""
    return api.context.engine.recorder.max_notification_id() or 0


def problem(answer: Any, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = answer.json()
    assert body["status"] == status and body["code"] == code and body["detail"]
    return body


def applied(answer: Any) -> list[dict[str, Any]]:
    assert answer.status_code == 200, answer.text
    results: list[dict[str, Any]] = answer.json()["results"]
    return results


def admin_writes(api: Api, *commands: dict[str, Any]) -> None:
    applied(api.post("admin", "/api/v1/commands", list(commands)))


def test_given_a_rep_when_she_writes_every_account_command_on_her_account_then_it_shows(
    api: Api,
) -> None:
    batch = [
        OPEN_ACME,
        {"cmd": "account_change", "account": ACME, "region": "華北", "at": AT},
        {"cmd": "buying_power", "account": ACME, "amount": "1200000", "currency": "CNY"},
        {"cmd": "share_of_wallet", "account": ACME, "percent": "35"},
        {"cmd": "grade", "account": ACME, "grade": "A", "reason": "top buyer"},
        {"cmd": "contact_add", "account": ACME, "contact": "li", "name": "Li Wei"}
        | {"role": "decision_maker", "support": 2},
        {"cmd": "contact_add", "account": ACME, "contact": "wu", "name": "Wu Fang"}
        | {"role": "end_user", "reports_to": "li"},
        {"cmd": "contact_change", "account": ACME, "contact": "wu", "support": -1},
        {"cmd": "activity", "account": ACME, "kind": "seminar", "attendees": ["li"]},
        {"cmd": "contact_left", "account": ACME, "contact": "wu", "reason": "moved on"},
    ]
    results = applied(api.post("ana", "/api/v1/commands", batch))
    assert [r["account"] for r in results] == [ACME] * len(batch)
    assert [r["status"] for r in results] == ["applied"] * len(batch)
    assert [r["version"] for r in results] == list(range(1, len(batch) + 1))
    assert results[0]["event"] == "Opened" and results[-1]["event"] == "ContactLeft"

    accounts = Accounts(api.context.engine)
    state = accounts.state(ACME)
    assert (state.owner, state.team, state.region) == ("ana", "north", "華北")
    assert (state.buying_power, state.bp_currency) == (Decimal("1200000"), "CNY")
    assert state.share_of_wallet == Decimal("35") and state.rad == "D1"
    assert state.grade == "A"
    assert [c.key for c in state.present_contacts()] == ["li"]
    assert state.contacts["wu"].support == -1 and state.contacts["wu"].left_reason == "moved on"
    assert [a.kind for a in state.activities] == ["seminar"]
    timeline = accounts.events(ACME).timeline
    assert {e.actor for e in timeline} == {"ana"}  # the token's principal, every event
    assert {(e.provenance or {}).get("source") for e in timeline} == {"api"}


def test_given_a_manager_when_he_sets_and_clears_the_teams_and_reps_quotas_then_they_show(
    api: Api,
) -> None:
    # An admin placed ana in north, with her quota of last year.
    ana_2025 = {"cmd": "set_quota", "rep": "ana", "team": "north", "period": "2025"}
    admin_writes(api, ana_2025 | {"amount": "300000", "currency": "CNY"})
    ana_q2 = {"cmd": "set_quota", "rep": "ana", "team": "north", "period": "2026-Q2"}
    ana_q2 |= {"amount": "90000", "currency": "CNY", "at": AT}
    results = applied(api.post("north", "/api/v1/commands", [NORTH_2026, ana_q2]))
    assert [(r["kind"], r["subject"], r["year"], r["period"]) for r in results] == [
        ("team", "north", 2026, "2026"),
        ("rep", "ana", 2026, "2026-Q2"),
    ]
    assert [r["event"] for r in results] == ["TargetSet", "TargetSet"]
    quotas = Quotas(api.context.engine)
    now = api.context.engine.clock()
    team = quotas.view("team", "north", 2026, now, None)
    assert team is not None and team.targets["2026"].amount == Decimal("400000")
    assert team.targets["2026-Q1"].amount == Decimal("100000")  # broken into quarters
    assert team.targets["2026"].actor == "north-lead"
    rep = quotas.view("rep", "ana", 2026, now, None)
    assert rep is not None and rep.team == "north"
    assert rep.targets["2026-Q2"].amount == Decimal("90000")

    clear = {"cmd": "clear_quota", "rep": "ana", "period": "2026-Q2", "reason": "re-planned"}
    assert applied(api.post("north", "/api/v1/commands", clear))[0]["event"] == "TargetCleared"
    rep = quotas.view("rep", "ana", 2026, api.context.engine.clock(), None)
    assert rep is not None and "2026-Q2" not in rep.targets
    changes = quotas.changes("rep", "ana", 2026)
    assert [(c.type, c.actor) for c in changes[1:]] == [
        ("TargetSet", "north-lead"),
        ("TargetCleared", "north-lead"),
    ]


def test_given_a_rep_when_she_sends_a_quota_command_then_her_role_refuses_the_batch(
    api: Api,
) -> None:
    before = written(api)
    own = {"cmd": "set_quota", "rep": "ana", "team": "north", "period": "2026-Q2"}
    own |= {"amount": "1", "currency": "CNY"}
    body = problem(api.post("ana", "/api/v1/commands", own), 403, "forbidden")
    assert "quotas" in body["detail"] and "index" not in body
    body = problem(api.post("ana", "/api/v1/commands", [OPEN_ACME, own]), 403, "forbidden")
    assert body["index"] == 1
    problem(api.post("auditor", "/api/v1/commands", OPEN_ACME), 403, "forbidden")
    problem(api.post("auditor", "/api/v1/commands", NORTH_2026), 403, "forbidden")
    assert written(api) == before
    assert Accounts(api.context.engine).find(ACME) is None


def test_given_an_account_out_of_scope_when_a_rep_writes_to_it_then_it_answers_as_unknown(
    api: Api,
) -> None:
    admin_writes(api, OPEN_ACME | {"account": "Beta", "owner": "bo"})
    before = written(api)
    for command in (
        {"cmd": "grade", "grade": "B"},
        {"cmd": "activity", "kind": "call"},
        {"cmd": "contact_add", "contact": "x", "name": "X", "role": "influencer"},
    ):
        theirs = problem(
            api.post("ana", "/api/v1/commands", command | {"account": "Beta"}),
            404,
            "unknown_account",
        )
        never = problem(
            api.post("ana", "/api/v1/commands", command | {"account": "Gamma"}),
            404,
            "unknown_account",
        )
        assert theirs["detail"] == never["detail"].replace("Gamma", "Beta")
        assert theirs.keys() == never.keys()
    # An opening in scope under a key another rep holds: taken, as for one of her own.
    taken = problem(
        api.post("ana", "/api/v1/commands", OPEN_ACME | {"account": "Beta"}),
        409,
        "account_exists",
    )
    assert "Beta" in taken["detail"]
    assert written(api) == before
    # bo's manager reaches it: the team is north.
    regrade = {"cmd": "grade", "account": "Beta", "grade": None}
    assert applied(api.post("north", "/api/v1/commands", regrade))[0]["status"] == "applied"


@pytest.mark.parametrize(
    ("who", "command"),
    [
        ("ana", OPEN_ACME | {"owner": "bo"}),  # a rep opens accounts owned by herself
        ("north", OPEN_ACME | {"team": "south"}),  # a manager, accounts of his teams
        ("north", OPEN_ACME | {"team": None}),
        ("crm", OPEN_ACME),  # an integration of a policy: an account has none
        ("north", NORTH_2026 | {"team": "south"}),
        ("north", {"cmd": "set_quota", "rep": "ana", "period": "2026", "amount": "5"}),
        ("north", {"cmd": "set_quota", "rep": "chen", "team": "south", "period": "2026"}),
    ],
)
def test_given_a_write_out_of_the_callers_scope_then_it_is_refused_and_writes_nothing(
    api: Api, who: str, command: dict[str, Any]
) -> None:
    command = {k: v for k, v in command.items() if v is not None}
    if command["cmd"] == "set_quota":
        command = {"amount": "5", "currency": "CNY"} | command
    before = written(api)
    body = problem(api.post(who, "/api/v1/commands", command), 403, "out_of_scope")
    assert "reach" in body["detail"]
    assert written(api) == before


def test_given_her_account_when_a_rep_hands_it_to_another_rep_then_it_is_refused(
    api: Api,
) -> None:
    applied(api.post("ana", "/api/v1/commands", OPEN_ACME))
    before = written(api)
    handed = {"cmd": "account_change", "account": ACME, "owner": "bo"}
    problem(api.post("ana", "/api/v1/commands", handed), 403, "out_of_scope")
    assert written(api) == before
    assert Accounts(api.context.engine).state(ACME).owner == "ana"
    # Her manager may move it between the team's reps.
    assert applied(api.post("north", "/api/v1/commands", handed))[0]["status"] == "applied"
    assert Accounts(api.context.engine).state(ACME).owner == "bo"


def test_given_another_teams_quota_stream_then_a_manager_neither_clears_nor_takes_it(
    api: Api,
) -> None:
    chen = {"cmd": "set_quota", "rep": "chen", "team": "south", "period": "2026"}
    admin_writes(api, chen | {"amount": "70000", "currency": "CNY"})
    before = written(api)
    clear = {"cmd": "clear_quota", "rep": "chen", "period": "2026"}
    theirs = problem(api.post("north", "/api/v1/commands", clear), 422, "refused")
    never = problem(
        api.post("north", "/api/v1/commands", clear | {"rep": "nobody"}), 422, "refused"
    )
    assert theirs["detail"] == never["detail"].replace("nobody", "chen")
    taken = chen | {"team": "north", "amount": "1", "currency": "CNY"}
    problem(api.post("north", "/api/v1/commands", taken), 403, "out_of_scope")
    assert written(api) == before
    view = Quotas(api.context.engine).view("rep", "chen", 2026, api.context.engine.clock(), None)
    assert view is not None and view.team == "south"


def test_given_a_rep_without_quotas_then_no_manager_claims_her_until_an_admin_places_her(
    api: Api,
) -> None:
    api.tokens["south"] = api.context.tokens.create(
        "south-lead", Role.MANAGER, teams=["south"]
    ).text
    chen = {"cmd": "set_quota", "rep": "chen 陈", "period": "2026", "amount": "70000"}
    chen |= {"currency": "CNY"}
    before = written(api)
    # chen has no quota yet: the north manager cannot claim her for north, nor the
    # south manager place her (her deals' team is no proof: a manager opens deals too).
    for who, team in (("north", "north"), ("south", "south")):
        body = problem(
            api.post(who, "/api/v1/commands", chen | {"team": team}), 403, "out_of_scope"
        )
        assert "an admin places a rep in a team" in body["detail"]
    assert written(api) == before

    admin_writes(api, chen | {"team": "south", "period": "2025"})
    # Placed in south by last year's quota: the south manager sets this year's, and the
    # north manager still cannot claim her, in this year or the next.
    applied(api.post("south", "/api/v1/commands", chen | {"team": "south"}))
    before = written(api)
    for period in ("2026-Q3", "2027"):
        claim = chen | {"team": "north", "period": period}
        problem(api.post("north", "/api/v1/commands", claim), 403, "out_of_scope")
    assert written(api) == before
    view = Quotas(api.context.engine).view("rep", "chen 陈", 2026, api.context.engine.clock(), None)
    assert view is not None and view.team == "south" and view.targets["2026"].actor == "south-lead"


def test_given_a_rep_placed_by_an_earlier_batch_command_then_the_manager_sets_her_next_year(
    api: Api,
) -> None:
    bo = {"cmd": "set_quota", "rep": "bo", "team": "north", "amount": "5", "currency": "CNY"}
    admin_writes(api, bo | {"period": "2025"})
    # The batch's own 2026 quota places bo for its 2027 one, as a stored one would.
    batch = [bo | {"period": "2026"}, bo | {"period": "2027"}]
    assert [r["year"] for r in applied(api.post("north", "/api/v1/commands", batch))] == [
        2026,
        2027,
    ]


def test_given_a_team_scoped_integration_then_it_writes_its_teams_accounts_and_quotas(
    api: Api,
) -> None:
    token = api.context.tokens.create("planner", Role.INTEGRATION, teams=["north"])
    api.tokens["planner"] = token.text
    results = applied(api.post("planner", "/api/v1/commands", [OPEN_ACME, NORTH_2026]))
    assert [r["status"] for r in results] == ["applied", "applied"]
    south = OPEN_ACME | {"account": "Sud", "team": "south"}
    problem(api.post("planner", "/api/v1/commands", south), 403, "out_of_scope")


@pytest.mark.parametrize(
    ("command", "field"),
    [
        ({"cmd": "buying_power", "account": ACME, "amount": "-5", "currency": "CNY"}, "amount"),
        ({"cmd": "buying_power", "account": ACME, "amount": "5", "currency": "cny"}, "currency"),
        ({"cmd": "buying_power", "account": ACME, "amount": "١٠", "currency": "CNY"}, "amount"),
        ({"cmd": "share_of_wallet", "account": ACME, "percent": "120"}, "percent"),
        ({"cmd": "grade", "account": ACME, "grade": "E"}, "grade"),
        ({"cmd": "contact_add", "account": ACME, "contact": "x", "name": "X"}, "role"),
        ({"cmd": "contact_change", "account": ACME, "contact": "x", "support": 3}, "support"),
        ({"cmd": "account_open", "account": ACME}, "owner"),
        (OPEN_ACME | {"customer": "old"}, "customer"),
        (OPEN_ACME | {"at": "last week"}, "at"),
        (NORTH_2026 | {"period": "2026-Q5"}, "period"),
        (NORTH_2026 | {"amount": "lots"}, "amount"),
        (NORTH_2026 | {"currency": "yuan"}, "currency"),
        (NORTH_2026 | {"split": "weekly"}, "split"),
        ({"cmd": "set_quota", "period": "2026", "amount": "5"}, "team"),
        ({"cmd": "account_close", "account": ACME}, "cmd"),
    ],
)
def test_given_a_malformed_command_then_the_field_is_named_and_nothing_is_written(
    api: Api, command: dict[str, Any], field: str
) -> None:
    before = written(api)
    body = problem(api.post("admin", "/api/v1/commands", command), 422, "invalid_request")
    assert field in {e["field"].removeprefix("body.") for e in body["errors"]}, body
    in_batch = problem(
        api.post("admin", "/api/v1/commands", [OPEN_ACME, command]), 422, "invalid_request"
    )
    assert any(e["field"].startswith("body[1]") for e in in_batch["errors"]), in_batch
    assert written(api) == before


def test_given_a_command_naming_its_actor_then_it_is_refused_whatever_its_family(
    api: Api,
) -> None:
    before = written(api)
    for command in (OPEN_ACME, NORTH_2026):
        body = problem(
            api.post("admin", "/api/v1/commands", [command | {"by": "someone"}]),
            422,
            "invalid_request",
        )
        assert body["errors"][0]["field"] == "body[0].by"
    assert written(api) == before


def test_given_a_mixed_batch_when_its_last_command_is_refused_then_nothing_is_written(
    api: Api,
) -> None:
    before = written(api)
    visit = {"cmd": "visit", "deal": "N-1", "at": AT}
    batch = [OPEN_ACME, NORTH_2026, visit, {"cmd": "grade", "account": "Nope", "grade": "C"}]
    body = problem(api.post("admin", "/api/v1/commands", batch), 404, "unknown_account")
    assert body["index"] == 3
    assert written(api) == before
    assert Accounts(api.context.engine).find(ACME) is None
    assert Quotas(api.context.engine).find("team", "north", 2026) is None
    # The same batch without the bad command lands whole, in one transaction.
    results = applied(api.post("admin", "/api/v1/commands", batch[:3]))
    assert [r.get("account") or r.get("subject") or r.get("deal") for r in results] == [
        ACME,
        "north",
        "N-1",
    ]
    assert written(api) == before + 4  # the team's quota stream: its opening and its target
    # One transaction, one recorded time: known at K, the batch is there whole or not at all.
    engine = api.context.engine
    deal = engine.find("N-1")
    assert deal is not None
    recorded = {
        Accounts(engine).events(ACME).timeline[0].timestamp,
        *(c.recorded_at for c in Quotas(engine).changes("team", "north", 2026)),
        deal.modified_on,
    }
    assert len(recorded) == 1


def test_given_an_id_when_the_same_command_is_sent_again_then_nothing_is_written_twice(
    api: Api,
) -> None:
    opening = OPEN_ACME | {"id": "acme-1"}
    quota = NORTH_2026 | {"id": "north-2026"}
    first = applied(api.post("north", "/api/v1/commands", [opening, quota]))
    after_first = written(api)
    again = applied(api.post("north", "/api/v1/commands", [opening, quota]))
    assert [r["status"] for r in again] == ["duplicate", "duplicate"]
    assert [r["version"] for r in again] == [r["version"] for r in first]
    assert written(api) == after_first
    for changed in (opening | {"industry": "steel"}, quota | {"amount": "1"}):
        body = problem(api.post("north", "/api/v1/commands", changed), 409, "id_reused")
        assert changed["id"] in body["detail"]
    assert written(api) == after_first


@pytest.fixture
def other(api: Api) -> Iterator[SalesEngine]:
    """Another writer: an engine of its own on the same store."""
    engine = build_engine(api.db, actor="other-writer")
    yield engine
    engine.close()


def stored(api: Api) -> int:
    """How many events the store holds, counted: on PostgreSQL a transaction rolled
    back leaves a gap in the log's positions."""
    return len(api.context.engine.recorder.select_notifications(1, 100_000))


def _another_writer_before_each_commit(
    api: Api, other: SalesEngine, monkeypatch: pytest.MonkeyPatch, times: int
) -> list[int]:
    """Before each of the batch's first ``times`` commits, ``other`` changes ACME's share
    of wallet, so that commit conflicts. The commits tried, by how many aggregates."""
    engine = api.context.engine
    real = engine.commit
    tried: list[int] = []

    def commit(*aggregates: Any) -> None:
        tried.append(len(aggregates))
        if len(tried) <= times:
            raw = {"cmd": "share_of_wallet", "account": ACME, "percent": str(len(tried)), "at": AT}
            Accounts(other).execute(parse_account_command(raw))
        real(*aggregates)

    monkeypatch.setattr(engine, "commit", commit)
    return tried


MIXED = [
    {"cmd": "grade", "account": ACME, "grade": "A", "at": AT},
    NORTH_2026,
    {"cmd": "open", "deal": "N-9", "policy": "five-level", "owner": "ana", "team": "north",
     "at": AT, "facts": FIVE_LEVEL_OPENING},
]  # fmt: skip


def test_given_a_concurrent_write_when_a_mixed_batch_commits_then_it_is_replayed_whole(
    api: Api, other: SalesEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin_writes(api, OPEN_ACME)
    before = stored(api)
    tried = _another_writer_before_each_commit(api, other, monkeypatch, times=1)
    results = applied(api.post("north", "/api/v1/commands", MIXED))
    assert tried == [3, 3]  # the first commit conflicted; the batch was decided again
    assert [r["event"] for r in results] == ["GradeSet", "TargetSet", "Opened"]
    # Decided again on fresh state: the grade follows the other writer's change.
    events = Accounts(api.context.engine).events(ACME).timeline
    assert [(type(e).__name__, e.actor) for e in events[1:]] == [
        ("ShareOfWalletSet", "other-writer"),
        ("GradeSet", "north-lead"),
    ]
    assert results[0]["version"] == 3
    # Nothing of the first attempt was stored: each aggregate holds the batch once.
    assert stored(api) == before + 1 + 1 + 2 + 1  # other's; grade; quota open+set; deal
    deal = api.context.engine.find("N-9")
    assert deal is not None and deal.version == 1
    changes = Quotas(api.context.engine).changes("team", "north", 2026)
    assert [c.type for c in changes] == ["Opened", "TargetSet"]


def test_given_a_write_conflicting_every_attempt_then_the_batch_is_refused_and_not_stored(
    api: Api, other: SalesEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin_writes(api, OPEN_ACME)
    before = stored(api)
    tried = _another_writer_before_each_commit(api, other, monkeypatch, times=WRITE_RETRIES)
    body = problem(api.post("north", "/api/v1/commands", MIXED), 409, "conflict")
    assert "kept changing" in body["detail"]
    assert len(tried) == WRITE_RETRIES
    assert stored(api) == before + WRITE_RETRIES  # the other writer's changes alone
    assert api.context.engine.find("N-9") is None
    assert Quotas(api.context.engine).find("team", "north", 2026) is None
