"""An XES log split by place among import workers reads exactly as the whole file read
at once; where that cannot be shown (a comment among the traces, one trace name in two
parts, a log too large to hold), the workers share it by trace name instead, and a
broken log fails with the same message as a single reading."""

from __future__ import annotations

import gzip
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from salesengine.importing import xes
from salesengine.importing.common.errors import SourceError
from salesengine.importing.common.items import SourceItem
from salesengine.importing.common.sharing import Meet, Share, SharedRead
from tests.support.data import BPI_LOG, TEST_DATA, shared_data

DATA = TEST_DATA


class Meeting:
    """The workers' meeting point of ``parallel.run_workers``, for threads in one process."""

    def __init__(self, parts: int) -> None:
        self.parts = parts
        self.answers: dict[int, list[int] | None] = {}
        self.given: dict[int, dict[int, Any]] = {}
        self.failed = False
        self.changed = threading.Condition()

    def fail(self) -> None:
        with self.changed:
            self.failed = True
            self.changed.notify_all()

    def meet_for(self, part: int) -> Meet:
        rounds = count()

        def meet(value: Any) -> list[int] | None:
            round_ = next(rounds)
            with self.changed:
                given = self.given.setdefault(round_, {})
                given[part] = value
                self.changed.notify_all()
                if not self.changed.wait_for(
                    lambda: self.failed or len(given) == self.parts, timeout=120
                ):
                    raise TimeoutError("the other workers never came")
                if len(given) < self.parts:
                    raise RuntimeError("another worker failed")
                if round_ not in self.answers:  # judged once, as the parent does
                    self.answers[round_] = xes.agree([given[p] for p in range(self.parts)])
                return self.answers[round_]

        return meet


def shares(path: Path, parts: int) -> list[SharedRead | BaseException]:
    """Every worker's ``read_shared``, each in its own thread; a worker's error as it was."""
    meeting = Meeting(parts)
    results: list[SharedRead | BaseException] = [RuntimeError("no result")] * parts

    def work(part: int) -> None:
        try:
            share = Share(part, parts)
            results[part] = xes.read_shared(
                path, "bpi2012", None, share=share, meet=meeting.meet_for(part)
            )
        except BaseException as e:
            meeting.fail()
            results[part] = e

    threads = [threading.Thread(target=work, args=(part,)) for part in range(parts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def whole(path: Path) -> list[SourceItem] | SourceError:
    try:
        return list(xes.read(path, "bpi2012", None))
    except SourceError as e:
        return e


def is_subsequence(part: list[SourceItem], of: list[SourceItem]) -> bool:
    rest: Iterator[SourceItem] = iter(of)
    return all(any(item == other for other in rest) for item in part)


def check_as_whole(path: Path, parts: int) -> list[SharedRead]:
    """The shares together are the whole reading; a broken file fails every worker alike."""
    expected = whole(path)
    results = shares(path, parts)
    if isinstance(expected, SourceError):
        for result in results:
            assert isinstance(result, SourceError)
            assert str(result) == str(expected)
        return []
    reads = [r for r in results if isinstance(r, SharedRead)]
    assert len(reads) == parts, results
    got = [list(read.items) for read in reads]
    assert len({read.by for read in reads}) == 1  # the workers agree
    if reads[0].by == "place":
        # Parts follow each other in the file: together they are the file's order.
        assert [item for items in got for item in items] == expected
        total = max((item.row for item in expected), default=0)
        for read, items in zip(reads, got, strict=True):
            if items:
                assert read.position(max(item.row for item in items)) == total
    else:
        assert reads[0].by == "name"
        for items in got:
            assert is_subsequence(items, expected)
        assert Counter(repr(i) for items in got for i in items) == Counter(map(repr, expected))
    return reads


# ------------------------------------------------------------------ generated logs

ACTIVITIES = (
    "A_SUBMITTED",
    "A_PARTLYSUBMITTED",
    "A_PREACCEPTED",
    "A_ACCEPTED",
    "A_DECLINED",
    "O_CREATED",
    "W_Completeren aanvraag",
)

events = st.tuples(
    st.sampled_from(ACTIVITIES),
    st.sampled_from(("COMPLETE", "COMPLETE", "START")),
    st.none() | st.integers(0, 500),  # minutes after the log's epoch, or no time at all
)
traces = st.tuples(st.text("0123456789", min_size=1, max_size=2), st.lists(events, max_size=4))


HEADER_COMMENTS = (
    "",
    "<!-- made for a test -->",
    "<!-- a <trace> here is no trace: the split is refused, not misled -->",
)


def render(
    log: Sequence[tuple[str, Sequence[tuple[str, str, int | None]]]],
    header_comment: str,
    body_comment: int | None,
) -> str:
    out = ['<?xml version="1.0" encoding="UTF-8" ?>']
    if header_comment:
        out.append(header_comment)
    out.append('<log xes.version="1.0">')
    out.append('\t<string key="concept:name" value="generated"/>')
    for number, (name, trace_events) in enumerate(log):
        if body_comment == number:
            out.append("\t<!-- <trace> -->")
        out.append("\t<trace>")
        out.append(f'\t\t<string key="concept:name" value="{name}"/>')
        out.append('\t\t<string key="AMOUNT_REQ" value="5000"/>')
        for activity, lifecycle, minute in trace_events:
            out.append("\t\t<event>")
            out.append(f'\t\t\t<string key="concept:name" value="{activity}"/>')
            out.append(f'\t\t\t<string key="lifecycle:transition" value="{lifecycle}"/>')
            if minute is not None:
                stamp = f"2012-01-01T{minute // 60:02d}:{minute % 60:02d}:00.000+01:00"
                out.append(f'\t\t\t<date key="time:timestamp" value="{stamp}"/>')
            out.append("\t\t</event>")
        out.append("\t</trace>")
    out.append("</log>")
    return "\n".join(out) + "\n"


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    log=st.lists(traces, max_size=12),
    distinct=st.booleans(),
    parts=st.integers(1, 4),
    header_comment=st.sampled_from(HEADER_COMMENTS),
    body_comment=st.none() | st.integers(0, 11),
    packed=st.booleans(),
)
def test_a_log_shared_among_workers_reads_as_the_whole_file(
    tmp_path: Path,
    log: list[tuple[str, list[tuple[str, str, int | None]]]],
    distinct: bool,
    parts: int,
    header_comment: str,
    body_comment: int | None,
    packed: bool,
) -> None:
    if distinct:
        log = [(f"{number}-{name}", events) for number, (name, events) in enumerate(log)]
    text = render(log, header_comment, body_comment).encode()
    path = tmp_path / ("log.xes.gz" if packed else "log.xes")
    path.write_bytes(gzip.compress(text) if packed else text)
    reads = check_as_whole(path, parts)
    names = [name for name, _ in log]
    plain = "<trace>" not in header_comment and (body_comment is None or body_comment >= len(log))
    if plain and len(set(names)) == len(names) and log:
        assert reads[0].by == "place"  # nothing stood in the way of a split


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    log=st.lists(traces, min_size=1, max_size=6),
    parts=st.integers(2, 4),
    cut=st.floats(0.0, 0.99),
)
def test_a_log_broken_off_fails_every_worker_as_a_single_reading_does(
    tmp_path: Path,
    log: list[tuple[str, list[tuple[str, str, int | None]]]],
    parts: int,
    cut: float,
) -> None:
    text = render(log, "", None).encode()
    path = tmp_path / "cut.xes"
    path.write_bytes(text[: int(len(text) * cut)])
    assert isinstance(whole(path), SourceError)
    assert check_as_whole(path, parts) == []


def test_one_trace_name_in_two_parts_shares_the_log_by_name(tmp_path: Path) -> None:
    # The first trace and the last have the same name, so they fall in different parts.
    log = [(name, [("A_SUBMITTED", "COMPLETE", 1)]) for name in ("7", "1", "2", "3", "4", "7")]
    path = tmp_path / "twice.xes"
    path.write_text(render(log, header_comment="", body_comment=None))
    reads = check_as_whole(path, parts=2)
    assert [read.by for read in reads] == ["name", "name"]


def test_a_log_too_large_to_hold_is_shared_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(xes, "SPLIT_MAX_BYTES", 1000)
    reads = check_as_whole(DATA / "xes-small.xes", parts=2)
    assert [read.by for read in reads] == ["name", "name"]


@pytest.mark.parametrize("name", ["xes-small.xes", "xes-times.xes"])
def test_the_shipped_sample_logs_split_by_place(name: str) -> None:
    reads = check_as_whole(DATA / name, parts=2)
    assert [read.by for read in reads] == ["place", "place"]


@pytest.mark.parametrize(
    "name", ["xes-truncated.xes", "xes-no-trace-name.xes", "xes-not-a-log.xes", "xes-not-xml.xes"]
)
def test_a_broken_log_fails_every_worker_as_a_single_reading_does(name: str) -> None:
    assert isinstance(whole(DATA / name), SourceError)
    assert check_as_whole(DATA / name, parts=3) == []


def test_the_bpi_log_splits_by_place_into_the_whole_reading() -> None:
    reads = check_as_whole(shared_data(BPI_LOG), parts=2)
    assert [read.by for read in reads] == ["place", "place"]


def lettered(names: str, between: dict[int, str]) -> str:
    """A log of one-event traces named by ``names``, with ``between[i]`` put before the
    i-th trace: text, markup or a broken tag among the traces."""
    log = [(name, [("A_SUBMITTED", "COMPLETE", 1)]) for name in names]
    out = render(log, "", None).split("\n")
    starts = [number for number, line in enumerate(out) if line == "\t<trace>"]
    for index in sorted(between, reverse=True):
        out.insert(starts[index], between[index])
    return "\n".join(out)


@pytest.mark.parametrize(
    ("opened", "closed"),
    [("<!-- a <trace> in a comment", "-->"), ("<?note a <trace> in an instruction", "?>")],
)
@pytest.mark.parametrize("parts", [2, 3, 4])
@pytest.mark.parametrize("at", [2, 3, 4, 5])
def test_markup_opened_in_the_header_never_hides_traces_from_a_split(
    tmp_path: Path, opened: str, closed: str, parts: int, at: int
) -> None:
    # The first "<trace" is inside the markup: read as a cut, it would start every part
    # inside it, and the traces up to the closing text later on would be lost.
    text = lettered("ABCDEFGH", {0: f"\t{opened} {closed}", at: f"\t{closed}"})
    path = tmp_path / "markup.xes"
    path.write_text(text, encoding="utf-8")
    check_as_whole(path, parts)


@pytest.mark.parametrize("parts", [2, 3, 4])
@pytest.mark.parametrize("at", [1, 2, 3, 4, 5, 6, 7])
@pytest.mark.parametrize("broken", ['<string key="x" value="', "&amp", "<string"])
def test_a_tag_broken_off_just_before_a_cut_fails_as_a_single_reading_does(
    tmp_path: Path, parts: int, at: int, broken: str
) -> None:
    path = tmp_path / "broken.xes"
    path.write_text(lettered("ABCDEFGH", {at: broken}), encoding="utf-8")
    assert isinstance(whole(path), SourceError)
    assert check_as_whole(path, parts) == []


def test_the_parts_stand_only_if_all_parsed_from_one_file_with_names_apart() -> None:
    a, b = frozenset({"1", "2"}), frozenset({"3"})
    assert xes.agree([(5, a, 100, 7), (2, b, 100, 7)]) == [5, 2]
    assert xes.agree([(5, a, 100, 7), None]) is None  # a part did not parse
    assert xes.agree([(5, a, 100, 7), (2, b, 100, 8)]) is None  # the file changed
    assert xes.agree([(5, a, 100, 7), (2, b, 101, 7)]) is None
    assert xes.agree([(5, a, 100, 7), (2, a | b, 100, 7)]) is None  # one name, two parts
    assert xes.agree([None, None]) is None  # the second meeting, reading by name
