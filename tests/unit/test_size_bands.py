"""Deal-size bands: a policy's own (validated), the default, and their labels."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from salesengine.domain.errors import PolicyError
from salesengine.policies.catalog import PolicyCatalog, load_policy_file
from salesengine.reports.size_bands import NO_AMOUNT, Banding, SizeBands, short_amount
from tests.support.policy_files import GOOD, write

# The Maven CRM products' list prices (products.csv), the amount a Maven deal opens with.
MAVEN_PRICES = [Decimal(p) for p in ("55", "550", "1096", "3393", "4821", "5482", "26768")]
# Requested loan amounts around the BPI 2012 log's deciles (EUR).
BPI_AMOUNTS = [Decimal(a) for a in ("0", "3000", "5750", "10000", "15000", "30000", "99999")]


def test_a_policy_without_size_bands_has_the_account_grading_bands() -> None:
    five = PolicyCatalog().get("five-level")
    bands = SizeBands(five.size_bands)
    assert bands.labels == ("<500k", "500k-1M", ">=1M")
    assert [bands.band(Decimal(a)) for a in ("499999.9999", "500000", "999999", "1000000")] == [
        "<500k",
        "500k-1M",
        "500k-1M",
        ">=1M",
    ]
    assert bands.band(None) == NO_AMOUNT


def test_a_policy_file_sets_its_own_size_bands(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        GOOD.replace('title = "Mini"', 'title = "Mini"\nsize_bands = [250, 1500.5, "20000"]'),
    )
    policy = load_policy_file(path)
    assert policy.size_bands == (Decimal(250), Decimal("1500.5"), Decimal(20000))
    assert SizeBands(policy.size_bands).labels == (
        "<250",
        "250-1,500.5",
        "1,500.5-20k",
        ">=20k",
    )
    # Bands tell reports how to group, not how a deal runs: the rules' version is the same.
    plain = load_policy_file(write(tmp_path, GOOD, "plain.toml"))
    assert policy.fingerprint == plain.fingerprint


@pytest.mark.parametrize(
    ("bands", "reason"),
    [
        ("[1000, 500]", "band limits must increase: 500 follows 1000"),
        ("[1000, 1000]", "band limits must increase"),
        ("[0, 10]", "greater than 0"),
        ("[-5]", "greater than 0"),
        ("[10.12345]", "no more than 4 decimal places"),
        ('["1_000"]', "digits 0-9"),
        ('["lots"]', "digits 0-9"),
        ("[true]", "Decimal input should be"),
        ("[]", "at least 1 item"),
        (str(list(range(1, 15))), "at most 12 items"),
    ],
)
def test_malformed_size_bands_are_refused_naming_the_field(
    tmp_path: Path, bands: str, reason: str
) -> None:
    path = write(tmp_path, GOOD.replace('title = "Mini"', f'title = "Mini"\nsize_bands = {bands}'))
    with pytest.raises(PolicyError) as info:
        load_policy_file(path)
    assert str(path) in info.value.message
    assert "field 'size_bands" in info.value.message
    assert reason in info.value.message


def test_the_import_policies_bands_fit_their_data() -> None:
    catalog = PolicyCatalog()
    default = SizeBands(catalog.get("five-level").size_bands)
    for name, amounts, spread in (("maven", MAVEN_PRICES, 4), ("bpi2012", BPI_AMOUNTS, 4)):
        own = SizeBands(catalog.get(name).size_bands)
        # The account-grading bands put every such deal in one band; their own spread them.
        assert {default.band(a) for a in amounts} == {"<500k"}
        assert len({own.band(a) for a in amounts}) == spread, name


def test_bands_given_for_every_deal_replace_each_policys() -> None:
    policies = PolicyCatalog()
    every = {name: policies.get(name) for name in ("maven", "five-level")}
    by_policy = Banding(every)
    assert by_policy.band("maven", Decimal(700)) == "500-1k"
    assert by_policy.band("five-level", Decimal(700)) == "<500k"
    assert by_policy.band("unknown", Decimal(700)) == "<500k"
    given = Banding(every, [Decimal(100), Decimal(1000)])
    assert given.band("maven", Decimal(700)) == given.band("five-level", Decimal(700)) == "100-1k"


def test_labels_say_each_limit_exactly() -> None:
    assert [short_amount(Decimal(v)) for v in ("55", "0.5", "2500", "1000000", "1500000000")] == [
        "55",
        "0.5",
        "2.5k",
        "1M",
        "1.5B",
    ]
    # A limit no suffix says in two decimal places keeps all its digits.
    assert short_amount(Decimal("1234567")) == "1,234,567"
    assert short_amount(Decimal("1234.5")) == "1,234.5"


def test_bands_are_listed_lowest_first_whatever_their_labels_sort_as() -> None:
    policies = PolicyCatalog()
    bpi = Banding({"bpi2012": policies.get("bpi2012")})
    labels = ["no amount", ">=20k", "10k-20k", "<5k", "5k-10k", None]
    assert sorted(labels, key=bpi.order) == ["<5k", "5k-10k", "10k-20k", ">=20k", NO_AMOUNT, None]
    assert sorted(["10k-20k", "5k-10k"]) == ["10k-20k", "5k-10k"]  # what text order gave
    # Bands of several sets (one per policy) by their lower limit, then their upper.
    mixed = Banding({name: policies.get(name) for name in ("maven", "five-level")})
    labels = [">=1M", "500k-1M", "<500k", ">=5k", "1k-5k", "500-1k", "<500"]
    assert sorted(labels, key=mixed.order) == [
        "<500",
        "<500k",
        "500-1k",
        "1k-5k",
        ">=5k",
        "500k-1M",
        ">=1M",
    ]
    # Limits given for every deal (--size-bands) are the bands then.
    given = Banding({"bpi2012": policies.get("bpi2012")}, [Decimal(100), Decimal(1500)])
    assert sorted([">=1.5k", NO_AMOUNT, "100-1.5k", "<100"], key=given.order) == [
        "<100",
        "100-1.5k",
        ">=1.5k",
        NO_AMOUNT,
    ]
