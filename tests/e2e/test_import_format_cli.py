"""`salesengine import FILE` without --format: the format comes from the file name, the
mapping's declared format or a Salesforce header; a mapping for another format is
refused on its `format` field alone, and nothing is written."""

from __future__ import annotations

from pathlib import Path

from tests.support.cli_runner import CLI

DATA = Path(__file__).parents[1] / "data"

DEALS = "id,status,opened\nd-1,Open,2024-03-01\nd-2,Open,2024-03-02\n"
MAPPING = (
    "policy: maven\nid: id\nstage: status\nhistories:\n  Open:\n    - {cmd: open, at: opened}\n"
)


def test_a_salesforce_export_is_recognised_by_its_header(cli: CLI) -> None:
    for name in ("salesforce-opportunity-history.csv", "salesforce-opportunity-field-history.csv"):
        guessed = cli("import", str(DATA / name), "--json")
        stated = cli("import", str(DATA / name), "--format", "salesforce", "--json")
        assert guessed.code in (0, 1), guessed.err
        assert "not valid JSON" not in guessed.out + guessed.err
        first, again = guessed.json(), stated.json()
        assert first["imported_rows"] > 0
        # The stated format reads the same file: everything is already there.
        assert again["imported_rows"] == 0
        assert again["unchanged_rows"] == first["imported_rows"]


def test_a_csv_file_with_a_mapping_that_declares_no_format_is_a_crm_export(
    cli: CLI, tmp_path: Path
) -> None:
    rows = tmp_path / "deals.csv"
    rows.write_text(DEALS, encoding="utf-8")
    mapping = tmp_path / "deals.yaml"
    mapping.write_text(MAPPING, encoding="utf-8")
    run = cli("import", str(rows), "--mapping", str(mapping))
    assert run.code == 0, run.err
    assert "rows: 2 imported" in run.out
    assert cli("history", "d-2").code == 0


def test_a_csv_file_of_unknown_kind_asks_for_the_format_and_writes_nothing(
    cli: CLI, tmp_path: Path
) -> None:
    rows = tmp_path / "deals.csv"
    rows.write_text(DEALS, encoding="utf-8")
    run = cli("import", str(rows))
    assert run.code == 2
    assert "a CSV file needs --format" in run.err
    assert "not valid JSON" not in run.out + run.err  # not read as commands, line by line
    assert not (tmp_path / "store.db").exists()


def test_a_crm_export_without_a_mapping_asks_for_one_rather_than_guessing_its_columns(
    cli: CLI, tmp_path: Path
) -> None:
    rows = tmp_path / "deals.csv"
    rows.write_text(DEALS, encoding="utf-8")
    run = cli("import", str(rows), "--format", "csv")
    assert run.code == 2
    assert "a CRM export needs --mapping" in run.err
    assert not (tmp_path / "store.db").exists()


def test_a_mapping_for_another_format_is_refused_on_its_format_field(
    cli: CLI, tmp_path: Path
) -> None:
    rows = tmp_path / "deals.csv"
    rows.write_text(DEALS, encoding="utf-8")
    log = DATA / "xes-small.xes"
    cases = [
        (("import", str(rows), "--mapping", "bpi2012"), "a mapping for xes imports, not csv"),
        (
            ("import", str(rows), "--format", "csv", "--mapping", "bpi2012"),
            "a mapping for xes imports, not csv",
        ),
        (("import", str(log), "--mapping", "maven"), "a mapping for csv imports, not xes"),
        (
            ("import", str(rows), "--format", "salesforce", "--mapping", "maven"),
            "a mapping for csv imports, not salesforce",
        ),
    ]
    for args, reason in cases:
        run = cli(*args)
        assert run.code == 2, args
        assert "field 'format'" in run.err and reason in run.err, run.err
        assert "Extra inputs" not in run.err  # one reason, not every field of the mapping
        assert not (tmp_path / "store.db").exists()


def test_a_format_that_is_none_known_is_named_with_the_known_ones(cli: CLI, tmp_path: Path) -> None:
    rows = tmp_path / "deals.csv"
    rows.write_text(DEALS, encoding="utf-8")
    mapping = tmp_path / "deals.yaml"
    for given, shown in (
        ("CSV", "'CSV'"),
        ("[csv]", "['csv']"),
        ("jsonl", "'jsonl'"),
        ("", "None"),
    ):
        mapping.write_text(f"format: {given}\n{MAPPING}", encoding="utf-8")
        run = cli("import", str(rows), "--mapping", str(mapping))
        assert run.code == 2, given
        assert f"field 'format': one of salesforce, csv, xes (given: {shown})" in run.err
        assert not (tmp_path / "store.db").exists()


def test_a_salesforce_mapping_without_a_format_and_a_spaced_header_is_still_salesforce(
    cli: CLI, tmp_path: Path
) -> None:
    shipped = (DATA.parents[1] / "src/salesengine/importing/mappings/salesforce.yaml").read_text(
        encoding="utf-8"
    )
    mapping = tmp_path / "mine.yaml"
    mapping.write_text(
        "".join(line for line in shipped.splitlines(True) if not line.startswith("format:")),
        encoding="utf-8",
    )
    original = (DATA / "salesforce-opportunity-history.csv").read_text(encoding="utf-8")
    header, body = original.split("\n", 1)
    spaced = tmp_path / "History.CSV"  # the suffix in capitals, the names padded, a BOM
    spaced.write_text("\ufeff" + ", ".join(header.split(",")) + "\n" + body, encoding="utf-8")
    run = cli("import", str(spaced), "--mapping", str(mapping), "--json")
    assert run.code in (0, 1), run.err
    assert run.json()["imported_rows"] > 0
    shipped_run = cli("import", str(spaced), "--mapping", "salesforce", "--json")
    assert shipped_run.json()["unchanged_rows"] == run.json()["imported_rows"]


def test_an_unreadable_mapping_while_guessing_is_named(cli: CLI, tmp_path: Path) -> None:
    rows = tmp_path / "deals.csv"
    rows.write_text(DEALS, encoding="utf-8")
    mapping = tmp_path / "broken.yaml"
    mapping.write_text("policy: [maven\n", encoding="utf-8")
    run = cli("import", str(rows), "--mapping", str(mapping))
    assert run.code == 2
    assert f"{mapping}: cannot read the mapping" in run.err
    assert "Traceback" not in run.err
    assert not (tmp_path / "store.db").exists()


def test_an_xes_mapping_refused_with_workers_leaves_no_store(cli: CLI, tmp_path: Path) -> None:
    log = DATA / "xes-small.xes"
    run = cli("import", str(log), "--mapping", "maven", "--workers", "2")
    assert run.code == 2
    assert "field 'format': a mapping for csv imports, not xes" in run.err
    assert not (tmp_path / "store.db").exists()


def test_a_mapping_with_its_own_encoding_and_delimiter_reads_a_header_utf8_cannot(
    cli: CLI, tmp_path: Path
) -> None:
    rows = tmp_path / "deals.csv"
    rows.write_bytes(
        "id;statut;ouvert\nd-1;Ouvert;2024-03-01\n".replace("statut", "état").encode("latin-1")
    )
    mapping = tmp_path / "deals.yaml"
    mapping.write_text(
        'policy: maven\nid: id\nstage: "état"\nencoding: latin-1\ndelimiter: ";"\n'
        "histories:\n  Ouvert:\n    - {cmd: open, at: ouvert}\n",
        encoding="utf-8",
    )
    run = cli("import", str(rows), "--mapping", str(mapping))
    assert run.code == 0, run.err
    assert "rows: 1 imported" in run.out
