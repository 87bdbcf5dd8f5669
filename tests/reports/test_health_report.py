"""Grades and pipeline health read from the projections equal a replay of the raw events."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from salesengine.domain.deal import Deal
from salesengine.domain.policy import ContactCadence, FunnelPolicy, GradeDays
from salesengine.domain.values import Status
from salesengine.reports.health import Health, health
from salesengine.reports.open_deals import Only
from salesengine.reports.size_bands import Banding
from tests.support.busy_histories import REPS, busy_histories
from tests.support.clock import T0
from tests.support.commands import FIVE_LEVEL_OPENING, cmd
from tests.support.histories import OWNERS, POLICIES, Step, built
from tests.support.properties import examples, store_property
from tests.support.report_examples import CONTACTED
from tests.support.report_queries import instant_query, instant_report
from tests.support.stores import fresh_db, store_with_read_models
from tests.support.timelines import group_rank

PROPERTY = store_property(examples(40))


def days(delta: timedelta) -> float:
    return delta.total_seconds() / 86400


def count_visits(
    visits: dict[tuple[str, int], tuple[int, int]],
    deal: Deal,
    start: datetime,
    t: datetime,
    k: datetime | None,
    kinds: tuple[str, ...] | None = None,
) -> None:
    """The deal's visits per rep and week from ``start`` (logged, effective: logged so,
    and of one of ``kinds`` if given)."""
    for e in deal.timeline:
        seen = k is None or e.timestamp <= k
        if isinstance(e, Deal.VisitLogged) and seen and start <= e.effective_at <= t:
            week = (e.effective_at - start) // timedelta(weeks=1)
            n, eff = visits.get((e.actor, week), (0, 0))
            counts = e.effective and (kinds is None or e.kind in kinds)
            visits[(e.actor, week)] = (n + 1, eff + int(counts))


def grade_of(expected_close: date | None, today: date, own: FunnelPolicy) -> str:
    """A, B, C up to the policy's days to the expected close; D beyond, or without one."""
    limits = own.grade_days
    to_close = None if expected_close is None else (expected_close - today).days
    if to_close is None or to_close > limits.C:
        return "D"
    return "A" if to_close <= limits.A else "B" if to_close <= limits.B else "C"


def own_values(
    data: st.DataObject, policies: Mapping[str, FunnelPolicy]
) -> dict[str, FunnelPolicy]:
    """The policies, some with grade days, contact cadences and a visit target of their own."""
    drawn: dict[str, FunnelPolicy] = {}
    for name, policy in policies.items():
        p = policy
        if data.draw(st.booleans()):
            a = data.draw(st.integers(0, 40))
            b = a + data.draw(st.integers(1, 60))
            c = b + data.draw(st.integers(1, 120))
            cadence = {g: data.draw(st.sampled_from([1, 7, 14, 30, 45, 90])) for g in "ABCD"}
            p = p.model_copy(
                update={
                    "grade_days": GradeDays(A=a, B=b, C=c),
                    "contact_cadence_days": ContactCadence(**cadence),
                    "visit_target_per_week": data.draw(st.integers(1, 3)),
                    "effective_visit_kinds": data.draw(
                        st.sampled_from([None, ("face_to_face",), ("call", "seminar")])
                    ),
                }
            )
        drawn[name] = p
    return drawn


def replayed(
    deals: Iterable[Deal],
    t: datetime,
    k: datetime | None,
    policy: str | None,
    by: str | None = None,
    only: Only | None = None,
    banding: Banding | None = None,
    graded: Mapping[str, FunnelPolicy] = POLICIES,
) -> dict[str, Any]:
    """Every part of the health report, from Deal.state_at and the deals' timelines;
    ``graded``: the policies whose grade days and cadences apply."""
    today = t.astimezone(UTC).date()
    only = only or Only()
    grades: dict[tuple[str, str, Any], tuple[int, Decimal]] = {}
    stale, contacts = {}, {}
    summary: dict[Any, list[int]] = {}
    visits: dict[tuple[str, int], tuple[int, int]] = {}
    monday = today - timedelta(days=today.weekday() + 21)
    start = datetime(monday.year, monday.month, monday.day, tzinfo=UTC)
    for deal in deals:
        s = deal.state_at(t, k)
        if policy is not None and deal.state.policy != policy:
            continue
        if only.owner is not None or only.team is not None:
            # The deals kept are those whose attributes at T are the owner's or team's.
            if s.status is Status.NEW:
                continue
            if only.owner not in (None, s.owner) or only.team not in (None, s.team):
                continue
        count_visits(visits, deal, start, t, k, graded[deal.state.policy].effective_visit_kinds)
        if s.status is not Status.OPEN:
            continue
        spec = graded[s.policy]  # the stages of POLICIES, perhaps with values of its own
        g = grade_of(s.expected_close, today, spec)
        if by == "size":
            group: str | None = (banding or Banding(POLICIES)).band(s.policy, s.amount)
        else:
            group = None if by is None else getattr(s, by)
        key = (g, s.currency or spec.currency, group)
        n, amount = grades.get(key, (0, Decimal(0)))
        grades[key] = (n + 1, amount + (s.amount or 0))
        counts = summary.setdefault(group if by else s.owner, [0] * 6)
        counts[0] += 1

        assert s.stage_entered_at is not None and s.opened_at is not None
        limit = spec.stage(s.stage).time_rules.max_days
        reasons = []
        if s.next_step is None:
            reasons.append("no_next_step")
        elif s.next_step.due < t:
            reasons.append("next_step_overdue")
        if limit is not None and t - s.stage_entered_at > timedelta(days=limit):
            reasons.append("over_stage_limit")
        if reasons:
            due = None if s.next_step is None else s.next_step.due
            stale[s.key] = (
                s.owner, s.stage, tuple(reasons), due, group, days(t - s.stage_entered_at)
            )  # fmt: skip
            counts[1] += 1
            for n, reason in enumerate(("no_next_step", "next_step_overdue", "over_stage_limit")):
                counts[2 + n] += reason in reasons

        last = max(s.opened_at, s.last_visit_at or s.opened_at)
        if t - last > timedelta(days=getattr(spec.contact_cadence_days, g)):
            contacts[s.key] = (g, last, group, days(t - last))
            counts[5] += 1
    reps = sorted({rep for rep, _ in visits})
    return {
        "grades": {key: value for key, value in grades.items() if value[0]},
        "stale": stale,
        "contacts": contacts,
        "visits": [(rep, w, *visits.get((rep, w), (0, 0))) for rep in reps for w in range(4)],
        "summary": {group: tuple(counts) for group, counts in summary.items()},
    }


def reported(h: Health) -> dict[str, Any]:
    return {
        "grades": {
            (g.grade, g.currency, g.group): (g.deals, g.amount) for g in h.grades if g.deals
        },
        "stale": {
            s.deal: (s.owner, s.stage, s.reasons, s.next_due, s.group, s.days_in_stage)
            for s in h.stale
        },
        "contacts": {
            c.deal: (c.grade, c.last_contact, c.group, c.days_since) for c in h.overdue_contacts
        },
        "visits": [(v.rep, n % 4, v.visits, v.effective) for n, v in enumerate(h.visits)],
        "summary": {
            r.group: (
                r.open,
                r.stale,
                r.no_next_step,
                r.next_step_overdue,
                r.over_stage_limit,
                r.overdue_contacts,
            )
            for r in h.summary
        },
    }


def close(got: dict[str, Any], expected: dict[str, Any]) -> bool:
    """Equal, with days (floats, last in each tuple) equal to a microsecond."""
    if got.keys() != expected.keys():
        return False
    return all(
        g[:-1] == e[:-1] and abs(g[-1] - e[-1]) < 1e-9
        for g, e in zip(
            (got[k] for k in sorted(got)), (expected[k] for k in sorted(got)), strict=True
        )
    )


@PROPERTY
@given(steps=busy_histories(), data=st.data())
def test_health_as_of_t_known_at_k_equals_a_replay_of_the_raw_events(
    kind: str, tmp_path: Path, steps: list[Step], data: st.DataObject
) -> None:
    with fresh_db(kind, tmp_path) as db, built(db, steps) as b:
        deals = b.deals()
        for _ in range(3):
            query = instant_query(data, b, owners=(*OWNERS, *REPS))
            query = query._replace(policies=own_values(data, query.policies))
            t, k, policy, by, only, policies, given, banding = query
            h = instant_report(health, b.sql, query)
            got = reported(h)
            expected = replayed(deals, t, k, policy, by, only, banding, policies)
            where = f"T={t} K={k} policy={policy} by={by} {only} bands={given}"
            assert got["grades"] == expected["grades"], where
            assert close(got["stale"], expected["stale"]), where
            assert close(got["contacts"], expected["contacts"]), where
            assert got["visits"] == expected["visits"], where
            assert got["summary"] == {
                None if g is None else str(g): counts for g, counts in expected["summary"].items()
            }, where
            # Each grade per currency and group; deals longest in stage and most overdue
            # first; summary groups by name, the deals without one last.
            rank = group_rank(by, banding)
            slices = sorted(
                {(c, grp) for _, c, grp in got["grades"]},
                key=lambda s: (s[0], rank(s[1])),
            )
            assert [(g.currency, g.group, g.grade) for g in h.grades] == [
                (c, grp, g) for c, grp in slices for g in "ABCD"
            ]
            in_stage = [(-s.days_in_stage, s.deal) for s in h.stale]
            assert in_stage == sorted(in_stage)
            beyond = [c.days_since - c.cadence_days for c in h.overdue_contacts]
            assert beyond == sorted(beyond, reverse=True)
            groups = [r.group for r in h.summary]
            assert groups == sorted(groups, key=group_rank(by or "owner", banding))
            target = (
                policies[policy].visit_target_per_week
                if policy is not None
                else max(p.visit_target_per_week for p in policies.values())
            )
            for n, v in enumerate(h.visits):
                assert v.partial == (n % 4 == 3)
                assert v.target == target and v.met == (v.effective >= target)
            if h.visits:
                today = t.astimezone(UTC).date()
                assert h.visits[3].starts <= today < h.visits[3].starts + timedelta(days=7)


# ---------------------------------------------------------------- examples


def test_grades_stale_deals_overdue_contacts_and_weekly_visits(kind: str, tmp_path: Path) -> None:
    # Given five-level deals (identified: 30 days at most, contacted: 45) and T on
    # Saturday 11 April 2026 (ISO week 2026-W15, which starts on Monday 6 April)
    t = T0 + timedelta(days=40)
    day = timedelta(days=1)
    opening = {"policy": "five-level", "at": T0, "facts": FIVE_LEVEL_OPENING}
    with store_with_read_models(kind, tmp_path) as (engine, clock, catch_up):

        def run(**fields: Any) -> None:
            engine.execute(cmd(**fields))

        def contacted(deal: str, at: datetime) -> None:
            for name in CONTACTED:
                run(cmd="fact", deal=deal, name=name, at=at)
            run(cmd="advance", deal=deal, to="contacted", at=at)

        def next_step(deal: str, due: datetime, at: datetime) -> None:
            run(cmd="next_step", deal=deal, action="call", due=due.isoformat(), at=at)

        # A: closes in 31 days (grade A), 40 days identified, next step due after T,
        # visited 5 days before T.
        run(cmd="open", deal="A", amount="100", expected_close="2026-05-12", **opening)
        next_step("A", t + 5 * day, T0 + 35 * day)
        run(cmd="visit", deal="A", at=T0 + 36 * day, by="cy")
        # B: closes in 32 days (grade B), no next step, last visited 15 days before T.
        run(cmd="open", deal="B", amount="200", expected_close="2026-05-13", **opening)
        contacted("B", T0 + 20 * day)
        run(cmd="visit", deal="B", at=T0 + 25 * day, by="cy", effective=True)
        # C: its expected close has passed (grade A), next step overdue, never visited.
        run(cmd="open", deal="C", amount="300", expected_close="2026-03-20", **opening)
        contacted("C", T0 + 10 * day)
        next_step("C", T0 + 30 * day, T0 + 10 * day)
        # D: no expected close (grade D), healthy; visits by anna and bo.
        run(cmd="open", deal="D", amount="400", **opening)
        contacted("D", T0 + 39 * day)
        next_step("D", t + 10 * day, T0 + 39 * day)
        for at, rep, effective in (
            ("2026-03-10T10:00:00+00:00", "anna", True),  # before the four weeks
            ("2026-03-16T00:00:00+00:00", "bo", True),  # the first instant of W12
            ("2026-03-31T10:00:00+00:00", "anna", True),
            ("2026-04-01T10:00:00+00:00", "anna", True),
            ("2026-04-07T10:00:00+00:00", "anna", False),
            ("2026-04-11T10:00:00+00:00", "anna", True),  # after T
        ):
            run(cmd="visit", deal="D", at=at, by=rep, effective=effective)
        # E: closes in 183 days (grade C), healthy, not contacted for 40 days.
        run(cmd="open", deal="E", amount="5000", expected_close="2026-10-11", **opening)
        contacted("E", T0 + 30 * day)
        next_step("E", t + 10 * day, T0 + 30 * day)
        # G: grade A, opened 10 days before T, last visited 7 days and an hour before T.
        run(
            cmd="open",
            deal="G",
            amount="10",
            expected_close="2026-04-20",
            **opening | {"at": T0 + 30 * day},
        )
        next_step("G", t + 5 * day, T0 + 30 * day)
        run(cmd="visit", deal="G", at=t - timedelta(days=7, hours=1), by="cy")
        # F: won before T, so in no part of the report.
        run(cmd="open", deal="F", amount="9000", expected_close="2026-04-12", **opening)
        run(cmd="won", deal="F", at=T0 + 5 * day)
        before = clock.now
        clock.tick(days=1)
        # Recorded a day later: a visit to C two days before T.
        run(cmd="visit", deal="C", at=T0 + 38 * day, by="bo")

        # When health is read as of T, with everything and as known before that visit
        with catch_up().connect() as conn:
            now = health(conn, POLICIES, as_of=t)
            then = health(conn, POLICIES, as_of=t, known_at=before)
            target_two = {
                name: p.model_copy(update={"visit_target_per_week": 2})
                for name, p in POLICIES.items()
            }
            strict = health(conn, target_two, as_of=t, policy="five-level")

    # Then the grades count and sum the open deals
    assert [(g.grade, g.currency, g.deals, g.amount) for g in now.grades] == [
        ("A", "CNY", 3, Decimal(410)),
        ("B", "CNY", 1, Decimal(200)),
        ("C", "CNY", 1, Decimal(5000)),
        ("D", "CNY", 1, Decimal(400)),
    ]
    # and the stale deals are listed with their reasons, longest in their stage first
    assert [(s.deal, s.stage, s.reasons) for s in now.stale] == [
        ("A", "identified", ("over_stage_limit",)),
        ("C", "contacted", ("next_step_overdue",)),
        ("B", "contacted", ("no_next_step",)),
    ]
    assert now.stale[0].days_in_stage == 40
    # and the contacts overdue for their grade's cadence, most overdue first
    assert [(c.deal, c.grade, c.days_since) for c in then.overdue_contacts] == [
        ("C", "A", 40.0),
        ("E", "C", 40.0),
        ("B", "B", 15.0),
        ("G", "A", 7 + 1 / 24),
    ]
    # a visit recorded later, once known, brings C's contact up to date
    assert [c.deal for c in now.overdue_contacts] == ["E", "B", "G"]
    # and effective visits are counted per rep and week, the week of T partial.
    assert [(v.rep, v.week, v.visits, v.effective, v.partial) for v in now.visits] == [
        ("anna", "2026-W12", 0, 0, False),
        ("anna", "2026-W13", 0, 0, False),
        ("anna", "2026-W14", 2, 2, False),
        ("anna", "2026-W15", 1, 0, True),
        ("bo", "2026-W12", 1, 1, False),
        ("bo", "2026-W13", 0, 0, False),
        ("bo", "2026-W14", 0, 0, False),
        ("bo", "2026-W15", 1, 0, True),
        ("cy", "2026-W12", 0, 0, False),
        ("cy", "2026-W13", 1, 1, False),
        ("cy", "2026-W14", 1, 0, False),
        ("cy", "2026-W15", 1, 0, True),
    ]
    assert {v.target for v in now.visits} == {12} and not any(v.met for v in now.visits)
    assert [v.rep for v in then.visits if v.week == "2026-W15" and v.visits] == ["anna", "cy"]
    # With the policy's own target of 2, anna met it in W14.
    assert [(v.rep, v.week) for v in strict.visits if v.met] == [("anna", "2026-W14")]


def test_each_deal_is_graded_and_its_contacts_judged_by_its_own_policy(
    kind: str, tmp_path: Path
) -> None:
    # Given five-level with grades of its own (A: 10 days, B: 30) and a contact every 20
    # days for B, and funnel-list with the defaults (A: 31 days, every 7 days)
    own = {
        **POLICIES,
        "five-level": POLICIES["five-level"].model_copy(
            update={
                "grade_days": GradeDays(A=10, B=30, C=60),
                "contact_cadence_days": ContactCadence(A=3, B=20),
                "effective_visit_kinds": ("face_to_face",),
            }
        ),
    }
    t = T0 + timedelta(days=10)
    close = (t + timedelta(days=20)).date().isoformat()
    with store_with_read_models(kind, tmp_path) as (engine, _, catch_up):
        # and a deal of each, opened 10 days before T, closing 20 days after it
        engine.execute(
            cmd(cmd="open", deal="X", policy="five-level", at=T0, facts=FIVE_LEVEL_OPENING,
                amount="100", expected_close=close)
        )  # fmt: skip
        engine.execute(
            cmd(cmd="open", deal="Y", policy="funnel-list", at=T0, amount="200",
                expected_close=close)
        )  # fmt: skip
        # and visits logged effective by cy: face to face and by phone on V (five-level:
        # face-to-face visits alone count), by phone on W (funnel-list)
        engine.execute(
            cmd(cmd="open", deal="V", policy="five-level", at=T0, facts=FIVE_LEVEL_OPENING)
        )
        engine.execute(cmd(cmd="open", deal="W", policy="funnel-list", at=T0))
        for deal, how in (("V", "face_to_face"), ("V", "phone"), ("W", "phone")):
            visit = {"deal": deal, "kind": how, "effective": True, "by": "cy"}
            engine.execute(cmd(cmd="visit", at=t - timedelta(days=1), **visit))
        # When health is read with those policies, and with the defaults for both
        with catch_up().connect() as conn:
            mine = health(conn, own, as_of=t)
            five = health(conn, own, as_of=t, policy="five-level")
            defaults = health(conn, POLICIES, as_of=t)

    # Then X is a B deal, not yet overdue for its 20 days; Y an A deal, overdue
    assert {(g.grade, g.amount) for g in mine.grades if g.amount} == {
        ("B", Decimal(100)), ("A", Decimal(200))
    }  # fmt: skip
    assert [(c.deal, c.grade, c.cadence_days) for c in mine.overdue_contacts] == [("Y", "A", 7)]
    # while with the defaults both are A deals, overdue after 7 days.
    assert {c.deal for c in defaults.overdue_contacts} == {"X", "Y"}
    # The phone call on X does not count as effective under its policy; the one on Y does.
    assert [(v.visits, v.effective) for v in mine.visits if v.partial] == [(3, 2)]
    assert [(v.visits, v.effective) for v in five.visits if v.partial] == [(2, 1)]
    assert [(v.visits, v.effective) for v in defaults.visits if v.partial] == [(3, 3)]
