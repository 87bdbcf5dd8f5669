"""The portfolio reports as text tables (``salesengine portfolio ...``)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from salesengine.cli.render import money, say, when
from salesengine.cli.report_output import known_label
from salesengine.cli.tables import Grid, key, number, text

if TYPE_CHECKING:
    from salesengine.reports.portfolio_backtest import Backtest
    from salesengine.reports.portfolio_deals import GroupKey
    from salesengine.reports.portfolio_projection import Band, Projection
    from salesengine.reports.portfolio_reps import RepsReport
    from salesengine.reports.portfolio_shape import Shape


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _group(g: GroupKey) -> list[str]:
    return [g.level, g.label]


def print_shape(s: Shape) -> None:
    stages = [st.stage for st in s.groups[0].stages] if s.groups else []
    table = Grid(
        [key("level"), key("name"), *map(number, stages), number("open"),
         number(f"amount {s.currency}"), key("pyramid")],
        title=f"Funnel shape of {s.policy}, as of {when(s.as_of)}{known_label(s.known_at)} "
        "(deals per stage; ! short of the pyramid, with the least it should hold)",
    )  # fmt: skip
    for g in s.groups:
        cells = [str(st.deals) if st.pyramid else f"{st.deals}!<{st.least}" for st in g.stages]
        amount = sum((st.amount for st in g.stages), Decimal(0))
        shape_ok = "yes" if not g.not_pyramid else "no: " + ", ".join(g.not_pyramid)
        table.add(*_group(g.group), *cells, str(g.open), money(amount), shape_ok)
    table.print()
    prev = s.period.previous()
    rates = ", ".join(f"{k} {_share(None if c is None else float(c))}"
                      for k, c in s.conversions.items())  # fmt: skip
    say(
        f"The pyramid: each stage holds at least the next stage's deals / its conversion "
        f"({prev.name}, the plan for {s.period.name}): {rates}; '-' (no cohort) or 0% "
        "stands in as a plain pyramid."
    )
    new = Grid(
        [key("level"), key("name"),
         *(number(p.name + ("*" if p.end > s.as_of else "")) for p in s.periods)],
        title="New deals per period (* = up to T)",
    )  # fmt: skip
    for g in s.groups:
        new.add(*_group(g.group), *(str(n.deals) for n in g.new))
    new.print()


def _band(b: Band, amount: bool = False) -> str:
    if amount:
        return f"{b.mean:,.0f} [{b.p10:,.0f}-{b.p90:,.0f}]"
    return f"{b.mean:.1f} [{b.p10:g}-{b.p90:g}]"


def print_projection(p: Projection) -> None:
    basis = "given" if p.horizon_given else "one sales cycle, the window's median days to won"
    table = Grid(
        [key("level"), key("name"), number("open now"), number("open"), number("won"),
         number("lost"), number(f"won {p.currency}"), key("empties")],
        title=f"If no new prospects are added: {p.policy} as of {when(p.as_of)}"
        f"{known_label(p.known_at)}, in {p.horizon_days:.1f} days ({basis}); "
        f"mean [80% band], {p.runs} runs, seed {p.seed}",
    )  # fmt: skip
    for g in p.groups:
        b = g.bands
        table.add(
            *_group(g.group),
            str(g.open_now),
            _band(b["open"]),
            _band(b["won"]),
            _band(b["lost"]),
            _band(b["won_amount"], amount=True),
            "yes" if g.empties else "no",
        )
    table.print()
    m = p.model
    exits = Grid(
        [key("stage"), number("observed"), number("exits"), number("advanced"),
         number("dropped"), number("regressed"), number("stays")],
        title=f"Stage exits in [{when(m.start)}, {when(m.end)}) (estimated shares)",
    )  # fmt: skip
    for s in m.stages:
        shares = (s.share("advanced"), s.share("dropped"), s.share("regressed"), s.stays)
        exits.add(s.stage, str(s.observed), str(s.exits), *map(_share, shares))
    exits.print()
    say(
        f"empties: the band's upper end of open deals is at most {p.empty_share:.0%} of "
        "those open now. Lost counts lost and abandoned; amounts are at T."
    )


def print_backtest(b: Backtest) -> None:
    table = Grid(
        [key("as of"), number("horizon days"), key("to"), number("reps"), number("pairs"),
         number("inside"), key("note")],
        title=f"Backtest of {b.policy} ({b.runs} runs, seed {b.seed}){known_label(b.known_at)}",
    )  # fmt: skip
    for point in b.points:
        pairs = point.pairs()
        reps = len({p.group for p in pairs})
        note = "incomplete: the store ends before" if point.incomplete else ""
        table.add(
            when(point.projection.as_of),
            f"{point.projection.horizon_days:.1f}",
            when(point.end),
            str(reps),
            str(len(pairs)),
            str(sum(p.inside for p in pairs)),
            note,
        )
    table.print()
    figures = Grid([key("figure"), number("pairs"), number("coverage")])
    for figure in ("open", "won", "lost", "won_amount"):
        chosen = [p for p in b.pairs if p.figure == figure]
        figures.add(figure, str(len(chosen)), _share(b.coverage_of(figure)))
    figures.add("all", str(len(b.pairs)), _share(b.coverage))
    figures.print()
    say("coverage: the share of (T, rep, figure) pairs whose actual fell inside the 80% band.")


def print_reps(r: RepsReport) -> None:
    p = r.plan
    stages = [s.stage for s in p.rows]
    table = Grid(
        [key("rep"), number(f"target {p.currency}"), text("from"),
         *(number(s) for s in stages), number("fill"), number("short")],
        title=f"Reps against the ideal funnel of {p.policy}, {p.period.name}, as of "
        f"{when(p.as_of)}{known_label(p.known_at)} (deals/needed)",
    )  # fmt: skip
    for rep in r.reps:
        cells = [f"{s.deals}/{'-' if s.needed is None else s.needed}" for s in rep.stages]
        table.add(
            rep.rep or "(none)",
            money(rep.target) or "-",
            rep.target_from or "-",
            *cells,
            _share(rep.fill),
            "-" if rep.short is None else str(rep.short),
        )
    table.print()
    average = p.average_won
    size = "-" if average is None else f"{money(average)} {p.currency}"
    say(
        f"Ideal from {p.previous.name}: win rates and an average won deal of {size}; won: "
        f"won in {p.period.name} so far. fill: mean share of each stage's ideal held (each "
        "at most 1); short: deals missing from the ideal."
    )
    say(
        f"from: the target's basis: quota (the rep's quota for {p.period.name}), previous "
        f"period (what the rep won in {p.previous.name}) or given (--target)."
    )
    for problem in p.problems:
        say(f"note: {problem}")
