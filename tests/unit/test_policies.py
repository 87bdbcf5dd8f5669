"""Funnel policies: the three seed policies, and malformed files refused by name and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from salesengine.domain.errors import PolicyError, UnknownPolicy
from salesengine.policies.catalog import PolicyCatalog, load_policy_file
from tests.support.policy_files import GOOD, write

SEED_STAGES = {
    "five-level": ("identified", "contacted", "qualified", "developed", "committed"),
    "funnel-list": ("opportunity", "p25", "p50", "p90"),
    "seven-stage": ("target", "discover", "intent", "approval", "recognition", "negotiation"),
}
# Policies shipped for imported history (see docs/importing.md).
IMPORT_STAGES = {
    "bpi2012": ("submitted", "partly_submitted", "preaccepted", "accepted", "finalized"),
    "maven": ("prospecting", "engaging"),
}


@pytest.fixture
def catalog() -> PolicyCatalog:
    return PolicyCatalog()


def test_the_three_seed_policies_and_the_import_policies_ship_with_their_stage_keys(
    catalog: PolicyCatalog,
) -> None:
    assert {p.name: p.stage_keys for p in catalog.all()} == SEED_STAGES | IMPORT_STAGES


@pytest.mark.parametrize("name", sorted(SEED_STAGES))
def test_every_seed_stage_has_names_probability_role_and_described_criteria(
    catalog: PolicyCatalog, name: str
) -> None:
    policy = catalog.get(name)
    probabilities = [s.probability for s in policy.stages]
    assert probabilities == sorted(probabilities), "probabilities rise through the funnel"
    for stage in policy.stages:
        assert stage.name and stage.name_zh and stage.role
        assert all(c.key and c.description for c in stage.criteria)
    assert policy.won_probability == 100


def test_seed_policies_carry_the_domain_criteria_and_chinese_names(catalog: PolicyCatalog) -> None:
    five = catalog.get("five-level")
    assert five.stage("qualified").name_zh == "拿到资格"
    assert [s.probability for s in five.stages] == [10, 25, 50, 75, 90]
    funnel = catalog.get("funnel-list")
    p50 = {c.key for c in funnel.stage("p50").criteria}
    assert p50 == {"right_man", "right_proposal", "budget", "schedule", "next_step"}
    assert funnel.fallback is not None and funnel.fallback.to == "opportunity"
    assert funnel.stage("p90").time_rules.next_step_required
    seven = catalog.get("seven-stage")
    assert seven.stage("negotiation").name_zh == "进行商务谈判"


def test_asking_for_an_unknown_policy_names_the_known_ones(catalog: PolicyCatalog) -> None:
    with pytest.raises(UnknownPolicy, match=r"unknown policy 'nope'.*five-level"):
        catalog.get("nope")


def test_a_user_policy_directory_adds_policies(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    catalog = PolicyCatalog([tmp_path])
    assert catalog.get("mini").stage_keys == ("first", "second")


@pytest.mark.parametrize(
    ("text", "field", "reason"),
    [
        (
            GOOD.replace("probability = 60", "probability = 150"),
            "stages[second].probability",
            "less than or equal to 100",
        ),
        (
            GOOD.replace('key = "budget"', 'key = "Budget!"'),
            "stages[second].criteria[Budget!].key",
            "should match pattern",
        ),
        (
            GOOD.replace('role = "rep"\n[[stages]]', "[[stages]]"),
            "stages[first].role",
            "Field required",
        ),
        (
            GOOD.replace('title = "Mini"', 'title = "Mini"\ncolour = "red"'),
            "colour",
            "Extra inputs are not permitted",
        ),
        (GOOD.replace('key = "second"', 'key = "first"'), "stages", "stage keys repeat: first"),
        (GOOD.replace('key = "second"', 'key = "won"'), "stages", "may not be outcome names"),
        (
            GOOD.replace('title = "Mini"', 'title = "Mini"\nfallback = { to = "nowhere" }'),
            "fallback",
            "unknown stage 'nowhere'",
        ),
        (
            GOOD.replace('title = "Mini"', 'title = "Mini"\nfallback = { to = "second" }'),
            "fallback",
            "names the last stage 'second'",
        ),
        (  # not read as 1 %
            GOOD.replace("probability = 60", "probability = true"),
            "stages[second].probability",
            "Input should be a valid integer",
        ),
    ],
)
def test_a_malformed_policy_names_the_file_and_the_field(
    tmp_path: Path, text: str, field: str, reason: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(PolicyError) as info:
        load_policy_file(path)
    message = info.value.message
    assert str(path) in message
    assert reason in message
    if field not in ("stages", "fallback"):
        assert f"field '{field}'" in message


def test_a_policy_that_is_not_toml_names_the_file_and_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("probability = 10", "probability = = 10"))
    with pytest.raises(PolicyError, match=rf"{path}: not valid TOML: .*line 8, column 15"):
        load_policy_file(path)


def test_two_files_defining_one_policy_are_refused(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "a.toml")
    write(tmp_path, GOOD, "b.toml")
    with pytest.raises(PolicyError, match=r"b\.toml: field 'name': policy 'mini' is already"):
        PolicyCatalog([tmp_path]).all()


def test_a_missing_policy_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="does not exist"):
        PolicyCatalog([tmp_path / "missing"]).all()
