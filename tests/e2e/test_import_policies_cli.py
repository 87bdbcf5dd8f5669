"""`salesengine --policies DIR import`: the readers judge a mapping against the policies
the engine will use, the user's directories included."""

from __future__ import annotations

from pathlib import Path

from tests.support.cli_runner import CLI

DATA = Path(__file__).parents[1] / "data"

POLICY = """\
name = "short-cycle"
title = "Short cycle"
title_zh = "短周期"
description = "Two stages."
won_probability = 100
currency = "USD"

[[stages]]
key = "lead"
name = "Lead"
name_zh = "线索"
probability = 10
role = "rep"
criteria = []

[[stages]]
key = "offer"
name = "Offer"
name_zh = "报价"
probability = 50
role = "rep"
criteria = [{ key = "need_confirmed", description = "need confirmed", description_zh = "需求" }]
"""

SALESFORCE_MAPPING = """\
policy: short-cycle
stages:
  Prospecting: lead
  Qualification: offer
  Needs Analysis: offer
  Value Proposition: offer
  Id. Decision Makers: offer
  Perception Analysis: offer
  Proposal/Price Quote: offer
  Negotiation/Review: offer
  Closed Won: won
  Closed Lost: lost
"""


def known(cli: CLI, key: str) -> bool:
    shown = cli("history", key)
    assert shown.code == 0 or "unknown deal" in shown.err or "no event store" in shown.err, (
        shown.err
    )
    return shown.code == 0


def policy_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "short-cycle.toml").write_text(POLICY, encoding="utf-8")
    return folder


def test_a_salesforce_mapping_onto_a_policy_of_a_user_directory_imports(
    cli: CLI, tmp_path: Path
) -> None:
    mapping = tmp_path / "short.yaml"
    mapping.write_text(SALESFORCE_MAPPING, encoding="utf-8")
    history = DATA / "salesforce-opportunity-history.csv"
    args = ("import", str(history), "--format", "salesforce", "--mapping", str(mapping))

    without = cli(*args)
    assert without.code == 2
    assert "field 'policy'" in without.err and "short-cycle" in without.err
    assert not (tmp_path / "store.db").exists()  # a refused file creates no empty store
    assert not known(cli, "0065g00000XyZ07AAA")

    policies = str(policy_dir(tmp_path))
    run = cli("--policies", policies, *args)
    assert run.code == 0, run.err
    assert "0 refused" in run.out
    shown = cli("--policies", policies, "history", "0065g00000XyZ07AAA")
    assert shown.code == 0, shown.err
    assert "short-cycle" in shown.out
    assert "need_confirmed" in shown.out  # the criterion the move needed, recorded as a fact


def test_a_csv_mapping_naming_a_stage_the_users_policy_lacks_is_refused_before_writing(
    cli: CLI, tmp_path: Path
) -> None:
    rows = tmp_path / "deals.csv"
    rows.write_text(
        "id,status,opened\nd-1,Open,2024-03-01\n",
        encoding="utf-8",
    )
    mapping = tmp_path / "deals.yaml"
    mapping.write_text(
        "policy: short-cycle\nid: id\nstage: status\nhistories:\n"
        "  Open:\n    - {cmd: open, at: opened}\n    - {cmd: advance, to: signed, at: opened}\n",
        encoding="utf-8",
    )
    run = cli(
        "--policies",
        str(policy_dir(tmp_path)),
        "import",
        str(rows),
        "--format",
        "csv",
        "--mapping",
        str(mapping),
    )
    assert run.code == 2
    assert "field 'histories.Open.1.to': 'signed' is not a stage of policy short-cycle" in run.err
    assert not known(cli, "d-1")


def test_an_xes_mapping_onto_an_unknown_policy_or_stage_is_refused_before_writing(
    cli: CLI, tmp_path: Path
) -> None:
    log = DATA / "xes-small.xes"
    unknown = cli("import", str(log), "--mapping", "bpi2012", "--policy", "short-cycle")
    assert unknown.code == 2
    assert "--policy: unknown policy 'short-cycle'" in unknown.err

    lacking = cli(
        "--policies",
        str(policy_dir(tmp_path)),
        "import",
        str(log),
        "--mapping",
        "bpi2012",
        "--policy",
        "short-cycle",
    )
    assert lacking.code == 2
    assert "field 'stages.A_SUBMITTED': 'submitted' is not a stage of policy" in lacking.err
    assert not known(cli, "bpi2012-1001")
