"""`history` shows times to the second, and the fraction where two share a second, so
that a --known-at between two writes can be read off the text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from salesengine.bootstrap import build_engine
from salesengine.cli.render import to_the_second
from tests.support.cli_runner import CLI
from tests.support.clock import Clock
from tests.support.commands import FIVE_LEVEL_OPENING, cmd

RECORDED = datetime(2026, 3, 10, 8, 30, 15, 250000, tzinfo=UTC)
OPENED = datetime(2026, 3, 2, 9, 0, 5, tzinfo=UTC)


def test_history_tells_apart_writes_within_one_second(cli: CLI, tmp_path: Path) -> None:
    store = tmp_path / "times.db"
    clock = Clock(RECORDED)
    engine = build_engine(str(store), clock=clock, actor="t")
    try:
        engine.execute(
            cmd(cmd="open", deal="A", policy="five-level", at=OPENED, facts=FIVE_LEVEL_OPENING)
        )
        clock.tick(seconds=0.5)  # the next write, within the same second
        engine.execute(cmd(cmd="fact", deal="A", name="x", at=OPENED + timedelta(seconds=0.4)))
        clock.tick(seconds=30)
        engine.execute(cmd(cmd="fact", deal="A", name="y", at=OPENED + timedelta(minutes=1)))
    finally:
        engine.close()
    run = cli("history", "A", "--as-of", "2026-03-11", db_url=str(store))
    assert run.code == 0, run.err
    lines = [line for line in run.out.splitlines() if line.startswith("#")]
    assert len(lines) == 3
    opened, first_fact, second_fact = lines
    # Effective times: the opening and the first fact share 09:00:05; the second does not.
    assert "2026-03-02 09:00:05.000000  Opened" in opened
    assert "2026-03-02 09:00:05.400000  FactRecorded" in first_fact
    assert "2026-03-02 09:01:05  FactRecorded" in second_fact
    # Recorded times: two writes in 08:30:15, the third 30 seconds later.
    assert opened.endswith("recorded 2026-03-10 08:30:15.250000")
    assert first_fact.endswith("recorded 2026-03-10 08:30:15.750000")
    assert second_fact.endswith("recorded 2026-03-10 08:30:45")
    # A K read off the text, between the first two writes, sees the first alone.
    between = cli(
        "history", "A", "--known-at", "2026-03-10T08:30:15.5Z", "--json", db_url=str(store)
    ).json()
    assert [e["type"] for e in between["events"]] == ["Opened"]


@given(
    st.lists(
        st.datetimes(
            min_value=datetime(2026, 1, 1),
            max_value=datetime(2026, 1, 1, 0, 0, 5),
            timezones=st.just(UTC),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_distinct_instants_are_shown_apart_and_a_lone_one_to_the_second(
    times: list[datetime],
) -> None:
    show = to_the_second(times)
    shown = {t: show(t) for t in times}
    assert len(set(shown.values())) == len(set(times))
    for t, text in shown.items():
        alone = all(o.replace(microsecond=0) != t.replace(microsecond=0) for o in times if o != t)
        assert text == (
            t.strftime("%Y-%m-%d %H:%M:%S") if alone else t.strftime("%Y-%m-%d %H:%M:%S.%f")
        )
