"""The demo's quarter for a small sales organisation, generated from a fixed seed.

Three teams, twelve reps, the five-level policy, about twelve visits per rep a week,
and some moves that the stage guard refuses because evidence is missing. Each deal is
for an account of its owner's book (``demo_accounts``); a few visits are logged late and
a few deals lose a piece of their evidence, for ``anomalies`` (docs/demo.md).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from salesengine.application.commands import Command, parse_command
from salesengine.cli.demo_accounts import book
from salesengine.domain.key_info import EXPECTED_FROM, TOPICS
from salesengine.domain.policy import FunnelPolicy

TEAMS: dict[str, tuple[str, list[str]]] = {
    "North 华北": ("Beijing", ["Li Wei", "Wang Fang", "Zhang Min", "Liu Yang"]),
    "East 华东": ("Shanghai", ["Chen Jing", "Yang Tao", "Zhao Lei", "Huang Li"]),
    "South 华南": ("Guangzhou", ["Zhou Qiang", "Wu Xia", "Xu Gang", "Sun Ning"]),
}
# A deal's account is drawn from this many slots, as many as the demo once had accounts:
# the draw takes as much of the seed's stream as it did, so the quarter's deals stay the
# same; the slot picks one of the rep's own accounts (demo_accounts.book).
ACCOUNT_SLOTS = 16
VISIT_KINDS = ["face_to_face", "face_to_face", "face_to_face", "phone", "online"]
COMPETITORS = ["Acme Cloud", "Dragon Soft", "Orient IT"]
MODULES = ["finance", "supply chain", "HR", "CRM", "manufacturing"]
# How often a rep records a topic of key information when the deal's stage calls for it
# (docs/review.md): the rest show up as missing in the case review.
KEY_INFO_SHARE = 0.7
QUARTER_DAYS = 91
CARRY_OVER_DAYS = 35
# About one visit in a hundred is logged late, 8 to 20 days after it happened (a rep
# catching up on the visit log): what `anomalies` lists as backdated. Everything else is
# recorded the evening it happened (``demo_recording``).
LATE_SHARE = 0.01
LATE_DAYS = (8, 20)
# About one open deal in eight past its first stage loses a piece of its evidence.
LAPSE_ONE_IN = 8
LAPSE_REASONS = ["budget frozen", "sponsor left the company", "scope under review"]


@dataclass(slots=True)
class DemoPlan:
    anchor: datetime
    prefix: str
    commands: list[tuple[str, Command]] = field(default_factory=list)
    # The commands logged late (by ref): how long after their effective time.
    late: dict[str, timedelta] = field(default_factory=dict)

    def add(self, raw: dict[str, Any]) -> str:
        raw["id"] = f"{self.prefix}:{len(self.commands):05d}"
        self.commands.append((raw["id"], parse_command(raw)))
        return str(raw["id"])


def demo_anchor(today: date) -> datetime:
    return datetime(today.year, today.month, today.day, tzinfo=UTC)


def build_demo(policy: FunnelPolicy, today: date, seed: int = 7) -> DemoPlan:
    """Commands for one quarter ending at the start of ``today`` (UTC), in time order."""
    rng = random.Random(seed)
    # Key information draws from its own stream, so the quarter's deals stay the same.
    info = random.Random(f"{seed}/key-info")
    late = random.Random(f"{seed}/late")
    anchor = demo_anchor(today)
    prefix = f"demo-{today.isoformat()}-s{seed}"
    plan = DemoPlan(anchor=anchor, prefix=prefix)
    start = anchor - timedelta(days=QUARTER_DAYS)
    raw: list[tuple[datetime, int, dict[str, Any]]] = []
    lags: dict[int, timedelta] = {}
    seq = 0

    def emit(at: datetime, cmd: dict[str, Any], lag: timedelta | None = None) -> None:
        nonlocal seq
        seq += 1
        raw.append((at, seq, {**cmd, "at": at.isoformat()}))
        if lag is not None:
            lags[seq] = lag

    deal_no = 0
    stages = policy.stages
    rep_index = -1
    for team, (region, reps) in TEAMS.items():
        for rep in reps:
            rep_index += 1
            accounts = book(rep_index)
            open_deals: list[tuple[str, datetime, datetime]] = []  # key, opened, closed
            opened_at = (
                start - timedelta(days=CARRY_OVER_DAYS) + timedelta(hours=rng.uniform(0, 72))
            )
            while opened_at < anchor - timedelta(days=2):
                deal_no += 1
                key = f"{prefix}-{deal_no:04d}"
                closed_at = _one_deal(
                    rng,
                    emit,
                    policy,
                    stages,
                    key,
                    (rep, team, region, accounts),
                    opened_at,
                    anchor,
                    info,
                )
                open_deals.append((key, opened_at, closed_at))
                opened_at += timedelta(days=rng.expovariate(1 / 6.5))
            _visits(rng, late, emit, rep, open_deals, start, anchor)
    raw.sort(key=lambda r: (r[0], r[1]))
    raw = _lapses(raw, policy, anchor, random.Random(f"{seed}/lapses"))
    for _, n, cmd in raw:
        ref = plan.add(cmd)
        if n in lags:
            plan.late[ref] = lags[n]
    return plan


def _one_deal(
    rng: random.Random,
    emit: Any,
    policy: FunnelPolicy,
    stages: Any,
    key: str,
    who: tuple[str, str, str, list[str]],
    opened_at: datetime,
    anchor: datetime,
    info: random.Random,
) -> datetime:
    rep, team, region, accounts = who
    amount = Decimal(round(rng.lognormvariate(13.0, 0.8), -3))
    close_in = timedelta(days=rng.randint(30, 150))
    close = (opened_at + close_in).date()

    def key_info(at: datetime, before: int, after: int) -> None:
        """The topics a move from a stage of ``before``% to one of ``after``% calls for."""
        for topic in TOPICS:
            if before < EXPECTED_FROM[topic] <= after and info.random() < KEY_INFO_SHARE:
                details, evidence = _key_info(info, topic, amount, close)
                command = {"cmd": "key_info", "deal": key, "by": rep, "info": details}
                emit(at, command | ({"evidence": evidence} if evidence else {}))

    first = {c.key: True for c in stages[0].criteria}
    emit(
        opened_at,
        {
            "cmd": "open",
            "deal": key,
            "policy": policy.name,
            "by": rep,
            "owner": rep,
            "team": team,
            "region": region,
            "account": accounts[rng.randrange(ACCOUNT_SLOTS) % len(accounts)],
            "amount": str(amount),
            "currency": policy.currency,
            "expected_close": (opened_at + close_in).date().isoformat(),
            "facts": first,
        },
    )
    key_info(opened_at, -1, stages[0].probability)
    at = opened_at
    for index in range(1, len(stages)):
        at += timedelta(days=rng.expovariate(1 / 9), hours=rng.uniform(1, 8))
        if at >= anchor:
            return anchor
        fate = rng.random()
        if fate < 0.08:
            emit(
                at,
                {
                    "cmd": "lost",
                    "deal": key,
                    "by": rep,
                    "reason": "price",
                    "competitor": rng.choice(["Acme Cloud", "Dragon Soft", "Orient IT"]),
                },
            )
            return at
        if fate < 0.11:
            emit(at, {"cmd": "abandon", "deal": key, "by": rep, "reason": "budget frozen"})
            return at
        if fate < 0.22:  # stalls in this stage for the rest of the quarter
            return anchor
        criteria = [c.key for c in stages[index].criteria]
        premature = rng.random() < 0.12 and len(criteria) > 1
        for n, name in enumerate(criteria):
            if premature and n == len(criteria) - 1:
                # The rep tries to advance before the last piece of evidence is in:
                # the guard refuses, the evidence arrives, the second try succeeds.
                emit(at, {"cmd": "advance", "deal": key, "by": rep, "to": stages[index].key})
                at += timedelta(hours=rng.uniform(2, 48))
                if at >= anchor:
                    return anchor
            emit(at, {"cmd": "fact", "deal": key, "by": rep, "name": name, "value": True})
            at += timedelta(minutes=rng.randint(5, 90))
        emit(at, {"cmd": "advance", "deal": key, "by": rep, "to": stages[index].key})
        key_info(at, stages[index - 1].probability, stages[index].probability)
        if rng.random() < 0.2:
            emit(
                at + timedelta(hours=1),
                {"cmd": "amount", "deal": key, "by": rep, "amount": str(amount * Decimal("1.1"))},
            )
    at += timedelta(days=rng.expovariate(1 / 7))
    if at >= anchor:
        return anchor
    emit(at, {"cmd": "won", "deal": key, "by": rep})
    return at


def _lapses(
    raw: list[tuple[datetime, int, dict[str, Any]]],
    policy: FunnelPolicy,
    anchor: datetime,
    rng: random.Random,
) -> list[tuple[datetime, int, dict[str, Any]]]:
    """The commands with a few pieces of evidence withdrawn after the stage was entered
    (about one deal in LAPSE_ONE_IN of those still open past their first stage): what
    ``anomalies`` lists as lapsed criteria. Drawn from their own stream, after the
    quarter's other commands, so those stay the same."""
    # deal -> when it entered its stage, the stage (None: not advanced), closed, its rep
    last: dict[str, tuple[datetime, str | None, bool, str]] = {}
    for at, _, cmd in raw:
        entered, stage, closed, rep = last.get(cmd["deal"], (at, None, False, cmd["by"]))
        if cmd["cmd"] == "advance":
            entered, stage = at, cmd["to"]
        closed = closed or cmd["cmd"] in ("won", "lost", "abandon")
        last[cmd["deal"]] = (entered, stage, closed, rep)
    extra: list[tuple[datetime, int, dict[str, Any]]] = []
    for deal, (entered, stage, closed, rep) in sorted(last.items()):
        if closed or stage is None or rng.randrange(LAPSE_ONE_IN):
            continue
        facts = [c.key for c in policy.stage(stage).criteria if c.source == "fact"]
        when = entered + (anchor - entered) * rng.uniform(0.2, 0.9)
        if not facts:
            continue
        withdrawn = {"cmd": "retract", "deal": deal, "by": rep, "name": rng.choice(facts)}
        withdrawn |= {"reason": rng.choice(LAPSE_REASONS), "at": when.isoformat()}
        extra.append((when, len(raw) + len(extra) + 1, withdrawn))
    return sorted([*raw, *extra], key=lambda r: (r[0], r[1]))


def _key_info(
    info: random.Random, topic: str, amount: Decimal, close: date
) -> tuple[dict[str, Any], str | None]:
    """One topic's record as a rep would give it, and its evidence (None: none given)."""
    evidence = info.choice(["meeting minutes", "customer's email", "project plan", None])
    details: dict[str, Any]
    if topic == "schedule":
        go_live = close + timedelta(days=info.choice([60, 90, 120]))
        details = {
            "signing": close.isoformat(),
            "go_live": go_live.isoformat(),
            "derived_from": info.choice(["the CIO's project plan", "tender notice"]),
        }
    elif topic == "budget":
        share = Decimal(info.choice(["0.9", "1.0", "1.2"]))
        details = {"amount": str((amount * share).quantize(Decimal(1)))}
    elif topic == "requirement":
        details = {
            "motivation": info.choice(["replace an ageing ERP", "one finance platform"]),
            "modules": info.sample(MODULES, info.randint(1, 3)),
        }
    elif topic == "decision":
        details = {
            "process": "selection team, then the CIO, then the board",
            "criteria": info.sample(["price", "references", "local service"], 2),
            "contacts": ["CIO", "CFO"],
        }
    elif topic == "competition":
        rivals = info.sample(COMPETITORS, info.randint(1, 2))
        details = {"competitors": rivals, "leader": info.choice([*rivals, "us"])}
    else:
        details = {"items": info.sample(["total cost", "go-live date", "mobile access"], 2)}
    return {"topic": topic, **details}, evidence


def _visits(
    rng: random.Random,
    late: random.Random,
    emit: Any,
    rep: str,
    deals: list[tuple[str, datetime, datetime]],
    start: datetime,
    anchor: datetime,
) -> None:
    day = start
    while day < anchor:
        if day.weekday() < 5:
            live = [d for d in deals if d[1] < day and d[2] > day + timedelta(hours=18)]
            for _ in range(rng.choice([2, 2, 3, 3, 3])):
                if not live:
                    break
                key = rng.choice(live)[0]
                at = day + timedelta(hours=rng.uniform(9, 17))
                kind = rng.choice(VISIT_KINDS)
                effective = kind == "face_to_face" and rng.random() < 0.8
                lag = timedelta(days=late.uniform(*LATE_DAYS))
                closed = next(d[2] for d in live if d[0] == key)
                logged_late = late.random() < LATE_SHARE and at + lag < min(closed, anchor)
                emit(
                    at,
                    {
                        "cmd": "visit",
                        "deal": key,
                        "by": rep,
                        "kind": kind,
                        "effective": effective,
                        "attendees": [rep],
                    },
                    lag if logged_late else None,
                )
                emit(
                    at + timedelta(minutes=30),
                    {
                        "cmd": "next_step",
                        "deal": key,
                        "by": rep,
                        "action": "follow-up meeting",
                        "due": (at + timedelta(days=rng.randint(3, 14))).date().isoformat(),
                    },
                )
        day += timedelta(days=1)


def commands(plan: DemoPlan) -> Iterator[tuple[str, Command, dict[str, str] | None]]:
    for ref, command in plan.commands:
        yield ref, command, {"source": "demo"}
