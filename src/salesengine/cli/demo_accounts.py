"""The demo's accounts (客户): each rep's book, its buying power, share of wallet, grade,
decision chain and nurturing activities, generated from the demo's seed.

Every rep holds five accounts. The first four carry the rep's deals (``book``); the
fifth is either dormant (no deal, last contacted before the quarter began: overdue for
its cadence) or, for every third rep, a prospect opened in the last days and never
contacted. Some facts change during the quarter, so that a read as of an earlier T, or
known at an earlier K, differs from today's:

- the first account of every book: graded A, its share of wallet raised from 30% to
  55% three weeks before the quarter's end (its RAD cell goes from D1 to R1), and its
  general manager won over (support 0 to +2) at the same time;
- the second: graded B, upgraded to A a fortnight before the end, and its IT manager
  leaves a month before the end;
- the third: its buying power, first recorded as 800,000, corrected ten days before
  the end to 1,500,000 from its annual report, effective since it was opened (so only
  ``--known-at`` shows the old figure).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

PLACES = [
    "Huaxin", "Jinling", "Pearl River", "Northwind", "Taihu", "Yangtze", "Kunlun", "Lotus",
    "Red Cliff", "Silver Bay", "Eastern", "Great Wall", "Minjiang", "Xiangjiang", "Tianfu",
    "Qilu", "Bohai", "Changan", "Dongting", "Emei",
]  # fmt: skip
TRADES = [
    ("Steel", "steel"), ("Pharma", "pharmaceuticals"), ("Logistics", "logistics"),
    ("Power", "energy"), ("Textiles", "textiles"), ("Shipping", "shipping"),
    ("Mining", "mining"), ("Retail Group", "retail"), ("Cement", "building materials"),
    ("Hospital", "healthcare"), ("Grid", "energy"), ("Auto Parts", "automotive"),
    ("Foods", "food"), ("Bank", "banking"), ("Telecom", "telecom"), ("Chemicals", "chemicals"),
]  # fmt: skip
BOOK_SIZE = 5
WITH_DEALS = 4
SURNAMES = ["Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou",
            "Xu", "Sun", "Ma", "Zhu", "Hu", "Guo", "He", "Lin", "Gao", "Luo"]  # fmt: skip
GIVEN = ["Wei", "Fang", "Na", "Min", "Jing", "Lei", "Jun", "Yan", "Tao", "Ming", "Hui",
         "Ping", "Qiang", "Xin", "Yu", "Hao"]  # fmt: skip
# The decision chain of a typical account, top down: key, title, role, reports to.
CHAIN = [
    ("gm", "General Manager", "decision_maker", None),
    ("cfo", "CFO", "policy_maker", "gm"),
    ("cio", "CIO", "influencer", "gm"),
    ("it", "IT Manager", "initiator", "cio"),
    ("fin", "Finance Manager", "end_user", "cfo"),
]
# Nurturing activities (养单) beside the deals' visits; the face-to-face ones may count
# as effective.
ACTIVITIES = ["call", "call", "email", "seminar", "product_launch", "dinner", "gift", "visit"]
FACE_TO_FACE = {"seminar", "product_launch", "dinner", "visit"}
BP_CHOICES = [2_600_000, 1_800_000, 1_200_000, 900_000, 650_000, 400_000, 250_000]
SOW_CHOICES = [5, 8, 15, 25, 40, 60, 70]


def account_name(index: int) -> str:
    """The ``index``-th account's name: every pair of place and trade at most once."""
    return f"{PLACES[index % len(PLACES)]} {TRADES[_trade(index)][0]}"


def _trade(index: int) -> int:
    return (index + 5 * (index // len(PLACES))) % len(TRADES)


def book(rep_index: int) -> list[str]:
    """The accounts a rep's deals are for (the first four of the rep's book)."""
    return [account_name(rep_index * BOOK_SIZE + n) for n in range(WITH_DEALS)]


@dataclass(frozen=True, slots=True)
class Entry:
    """An account command of the demo, and when the rep recorded it (None: that evening)."""

    at: datetime
    command: dict[str, Any]
    recorded: datetime | None = None


def account_entries(
    reps: list[tuple[str, str, str]], start: datetime, anchor: datetime, seed: int
) -> list[Entry]:
    """The account commands for each (rep, team, region), rep by rep, in the books'
    order; each account's commands in effective order."""
    rng = random.Random(f"{seed}/accounts")
    out: list[Entry] = []
    names = _People(rng, {rep for rep, _, _ in reps})
    for r, (rep, team, region) in enumerate(reps):
        for n in range(BOOK_SIZE):
            index = r * BOOK_SIZE + n
            kind = "deals" if n < WITH_DEALS else ("new" if r % 3 == 0 else "dormant")
            rep_book = _Book(rng, names, out, rep, team, region, start, anchor)
            _Account(rep_book, index, kind).build(n)
    return out


@dataclass(frozen=True, slots=True)
class _Book:
    """What the accounts of one rep's book share."""

    rng: random.Random
    names: _People
    out: list[Entry]
    rep: str
    team: str
    region: str
    start: datetime
    anchor: datetime


class _People:
    """Contacts' names, never a rep's (a chain naming the rep would read as a mistake)."""

    def __init__(self, rng: random.Random, reps: set[str]) -> None:
        self.rng, self.reps = rng, reps

    def draw(self) -> str:
        while True:
            name = f"{self.rng.choice(SURNAMES)} {self.rng.choice(GIVEN)}"
            if name not in self.reps:
                return name


def _working_hours(rng: random.Random, day: datetime) -> datetime:
    """A time between 09:00 and 18:00 UTC on ``day``."""
    midnight = day.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + timedelta(hours=rng.uniform(9, 18))


class _Account:
    def __init__(self, book: _Book, index: int, kind: str) -> None:
        self.rng, self.names, self.out, self.rep = book.rng, book.names, book.out, book.rep
        self.team, self.region, self.kind = book.team, book.region, kind
        self.key, self.industry = account_name(index), TRADES[_trade(index)][1]
        self.start, self.anchor = book.start, book.anchor

    def add(self, at: datetime, cmd: str, recorded: datetime | None = None, **f: Any) -> None:
        command = {"cmd": cmd, "account": self.key, "by": self.rep, "at": at.isoformat(), **f}
        self.out.append(Entry(at, command, recorded))

    def build(self, n: int) -> None:
        rng, start, anchor = self.rng, self.start, self.anchor
        if self.kind == "new":
            opened = anchor - timedelta(days=rng.uniform(2, 12))
        else:
            opened = start - timedelta(days=rng.uniform(60, 90))
        bp = Decimal(rng.choice(BP_CHOICES)) * Decimal(rng.randint(90, 110)) / 100
        sow = Decimal(0 if self.kind == "new" else rng.choice(SOW_CHOICES))
        if n == 0:
            bp, sow = Decimal(2_400_000), Decimal(30)
        elif n == 2:
            bp = Decimal(800_000)
        customer = "existing" if sow else "new"
        self.add(
            opened, "account_open", owner=self.rep, team=self.team, region=self.region,
            industry=self.industry, customer=customer,
        )  # fmt: skip
        facts = opened + timedelta(hours=2)
        self.add(facts, "buying_power", amount=str(bp.quantize(Decimal(1))), currency="CNY")
        self.add(facts, "share_of_wallet", percent=str(sow))
        self._contacts(opened + timedelta(days=1), n)
        late = anchor - timedelta(days=21)
        if n == 0:
            self.add(opened + timedelta(days=3), "grade", grade="A", reason="group-wide rollout")
            self.add(late, "share_of_wallet", percent="55", note="won the finance platform")
            self.add(late, "contact_change", contact="gm", support=2)
        elif n == 1:
            self.add(opened + timedelta(days=3), "grade", grade="B", reason="budget in review")
            self.add(anchor - timedelta(days=30), "contact_left", contact="it",
                     reason="moved to the group's HQ")  # fmt: skip
            self.add(anchor - timedelta(days=14), "grade", grade="A", reason="tender announced")
        elif n == 2:
            corrected = anchor - timedelta(days=10)
            self.add(facts, "buying_power", corrected, amount="1500000", currency="CNY",
                     note="annual report: IT spend 1.5M a year")  # fmt: skip
        elif self.kind == "dormant" and rng.random() < 0.5:
            self.add(opened + timedelta(days=3), "grade", grade="C", reason="budget next year")
        self._activities(opened)

    def _contacts(self, at: datetime, n: int) -> None:
        size = {"deals": len(CHAIN), "dormant": 2, "new": 1}[self.kind]
        for key, title, role, boss in CHAIN[:size]:
            name = self.names.draw()
            support = 0 if n == 0 and key == "gm" else self.rng.choice([-1, 0, 0, 1, 1, 2])
            fields: dict[str, Any] = {"contact": key, "name": name, "title": title}
            fields |= {"role": role, "support": support}
            if boss is not None:
                fields["reports_to"] = boss
            self.add(at, "contact_add", **fields)

    def _activities(self, opened: datetime) -> None:
        rng = self.rng
        if self.kind == "new":
            return  # a prospect nobody has contacted yet
        if self.kind == "dormant":
            # Contacted before the quarter, not since: overdue for its cadence.
            day = _working_hours(rng, opened + timedelta(days=rng.randint(5, 15)))
            self.add(day, "activity", kind="call", attendees=["gm"], note="introduction")
            return
        day = self.start + timedelta(days=rng.uniform(0, 14))
        while day < self.anchor - timedelta(days=1):
            kind = rng.choice(ACTIVITIES)
            effective = kind in FACE_TO_FACE and rng.random() < 0.6
            who = rng.sample([c[0] for c in CHAIN[:3]], rng.randint(1, 2))
            self.add(_working_hours(rng, day), "activity", kind=kind, effective=effective,
                     attendees=who)  # fmt: skip
            day += timedelta(days=rng.randint(10, 25))
