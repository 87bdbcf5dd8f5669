"""A partitioned import must send every line of one deal to the same worker, and report
every refused line exactly once; a line that gives one key twice is refused."""

from __future__ import annotations

import json
import unicodedata
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from salesengine.application.commands import Command
from salesengine.importing.jsonl import ImportReport, duplicate_key, owner_of_line, read_commands

PARTS = 3


def part_of_deal(key: str) -> int:
    """The part of the key validation settles on: what every line of that deal must use."""
    return zlib.crc32(key.encode("utf-8", "surrogatepass")) % PARTS


def spell(body: list[tuple[str, Any]], separators: tuple[str, str], escape_deal: bool) -> str:
    """A JSON object with its members in the given order, duplicates kept, and the key
    ``deal`` optionally spelt with an escape, as any JSON writer may."""
    comma, colon = separators
    members = []
    for key, value in body:
        name = json.dumps(key, ensure_ascii=False)
        if key == "deal" and escape_deal:
            name = '"de\\u0061l"'
        members.append(f"{name}{colon}{json.dumps(value, ensure_ascii=False)}")
    return "{" + comma.join(members) + "}"


keys = st.text(min_size=1, max_size=10) | st.sampled_from(
    ["Café", "Cafe\u0301", " D-1 ", "D-1", "拜访", "a\\b", 'q"uote', "deal"]
)
notes = st.sampled_from(['"deal"', "deal", '{"deal": "x"}', "\\u0064eal", "plain"])


@st.composite
def lines(draw: st.DrawFn) -> str:
    key = draw(keys)
    body: list[tuple[str, Any]] = [("cmd", "visit"), ("deal", key), ("note", draw(notes))]
    if draw(st.booleans()):  # an opening whose facts hold a key named deal
        body = [("cmd", "open"), ("policy", "funnel-list"), ("facts", {"deal": draw(keys)})]
        body.insert(draw(st.integers(0, 3)), ("deal", key))
    if draw(st.booleans()):  # a second deal member: refused, and by one part alone
        body.insert(draw(st.integers(0, len(body))), ("deal", draw(keys)))
    separators = draw(st.sampled_from([(", ", ": "), (",", ":"), (" , ", " :  ")]))
    return spell(body, separators, escape_deal=draw(st.booleans()))


def read(path: Path, partition: tuple[int, int] | None) -> tuple[ImportReport, list[Any]]:
    report = ImportReport(path=str(path))
    return report, list(read_commands(path, report, partition))


@settings(
    # One temporary file serves every example; on a loaded machine drawing 25 lines can
    # exceed hypothesis's generation budget, which says nothing about the code.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    max_examples=60,
    deadline=None,
)
@given(st.lists(lines() | st.sampled_from(["", "{", "[1]", '{"deal": 7}']), max_size=25))
def test_the_parts_together_read_the_file_exactly_as_one_process(
    tmp_path: Path, file_lines: list[str]
) -> None:
    path = tmp_path / "commands.jsonl"
    path.write_text("\n".join(file_lines) + "\n", encoding="utf-8")
    whole_report, whole = read(path, None)

    yielded: dict[int, tuple[int, Command]] = {}
    refused = []
    blank = 0
    for part in range(PARTS):
        report, items = read(path, (part, PARTS))
        refused += [(e.line, e.message) for e in report.refused]
        blank += report.blank
        assert report.lines == whole_report.lines
        for number, command, _ in items:
            assert number not in yielded, "a line went to two parts"
            # Every line of a deal goes to the part of its key as validated.
            assert part == part_of_deal(command.deal)
            yielded[number] = (part, command)
    assert sorted(yielded) == [number for number, _, _ in whole]
    assert [yielded[n][1] for n, _, _ in whole] == [c for _, c, _ in whole]
    assert sorted(refused) == sorted((e.line, e.message) for e in whole_report.refused)
    assert blank == whole_report.blank


@settings(deadline=None)
@given(key=keys)
def test_a_validated_key_decides_the_part_whatever_its_spelling(key: str) -> None:
    stripped = unicodedata.normalize("NFC", key.strip())
    line = spell([("cmd", "won"), ("deal", key)], (",", ":"), escape_deal=False)
    fast = owner_of_line(line.encode("utf-8", "surrogatepass"), PARTS)
    assert fast is None or fast == part_of_deal(stripped)


def test_the_fast_path_reads_a_plain_key_and_declines_anything_less_plain() -> None:
    assert owner_of_line(b'{"cmd":"won","deal":"D-1"}', PARTS) == part_of_deal("D-1")
    assert owner_of_line(b'{"cmd":"won","deal":" D-1 "}', PARTS) == part_of_deal("D-1")
    assert owner_of_line(b'{"cmd":"won","deal":"D-\\u0031"}', PARTS) is None
    assert owner_of_line(b'{"deal":"D-1","facts":{"deal":true}}', PARTS) is None
    assert owner_of_line(b'{"cmd":"won"}', PARTS) is None
    assert owner_of_line(b'{"cmd":"won","deal":"\xff"}', PARTS) is None
    # A second deal key spelt with an escape: the last member wins, so no fast answer.
    assert owner_of_line(b'{"cmd":"won","deal":"A","de\\u0061l":"B"}', PARTS) is None
    assert owner_of_line(b'{"de\\u0061l":"B","facts":{"deal":"A"}}', PARTS) is None


@pytest.mark.parametrize(
    ("line", "repeated"),
    [
        ('{"cmd":"won","deal":"A"}', None),
        ('{"cmd":"won","deal":"A","deal":"B"}', "deal"),
        ('{"cmd" : "won", "deal" :"A",\t"deal"\t: "B"}', "deal"),  # spaced before the colon
        ('{"cmd":"won","deal":"A","de\\u0061l":"B"}', "deal"),  # one key, two spellings
        ('{"deal":"A","facts":{"x":1,"x":2}}', "x"),
        ('{"deal":"A","attendees":[{"n":1},{"n":2}]}', None),  # one key in each object
        ('{"deal":"A","note":"\\"budget\\": yes, \\"budget\\": no"}', None),  # in a value
        ('{"deal":"A","facts":{"deal":"B"}}', None),  # the same name in another object
    ],
)
def test_a_key_given_twice_in_one_object_is_found(line: str, repeated: str | None) -> None:
    assert duplicate_key(line, json.loads(line)) == repeated


@settings(deadline=None)
@given(st.dictionaries(keys, st.integers() | st.dictionaries(keys, st.booleans())))
def test_a_line_without_repeated_keys_is_never_refused(body: dict[str, Any]) -> None:
    for separators in ((",", ":"), (", ", " : ")):
        line = json.dumps(body, ensure_ascii=False, separators=separators)
        assert duplicate_key(line, json.loads(line)) is None
