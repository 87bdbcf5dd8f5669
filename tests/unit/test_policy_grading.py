"""Grade days, contact cadence and the visit target set per policy file, and the
fingerprints of the policies that set none of them, unchanged."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from salesengine.domain.errors import PolicyError
from salesengine.domain.policy import FunnelPolicy, KeptVersion
from salesengine.policies.catalog import PolicyCatalog, load_policy_file
from salesengine.reports.health import CADENCE_DAYS, GRADE_LIMITS, cadence_days, grade
from tests.support.policy_files import GOOD, write

# The shipped policies' fingerprints before grade days and cadences could be set: every
# store records them on its deals, so the files (which set neither) must keep them.
SHIPPED = {
    "bpi2012": "c9e3d898b3b61d2e",
    "five-level": "c8c4df38bac911a5",
    "funnel-list": "2832bead504fb681",
    "maven": "ba79faf72c183de8",
    "seven-stage": "2180ae1df4e5e219",
}
T = datetime(2026, 4, 1, 12, tzinfo=UTC)


def test_the_shipped_policies_keep_their_fingerprints() -> None:
    catalog = PolicyCatalog()
    assert {name: catalog.get(name).fingerprint for name in catalog.names()} == SHIPPED


def test_a_kept_document_written_before_the_new_fields_reads_as_the_same_version() -> None:
    # Given the canonical document of each shipped policy as a store kept it before the
    # fields existed (without them)
    for policy in PolicyCatalog().all():
        old = json.loads(policy.document)
        del old["grade_days"], old["contact_cadence_days"]
        # When it is read back, Then it is the same version, with the default values
        again = FunnelPolicy.model_validate_json(json.dumps(old))
        assert again.fingerprint == SHIPPED[policy.name]
        assert dict(again.grade_days.limits) == {"A": 31, "B": 92, "C": 183}
        assert again.contact_cadence_days.as_dict() == {"A": 7, "B": 14, "C": 30, "D": 90}


def test_writing_the_defaults_keeps_the_fingerprint_and_other_values_make_a_version(
    tmp_path: Path,
) -> None:
    plain = load_policy_file(write(tmp_path, GOOD, "plain.toml"))
    defaults = load_policy_file(
        write(
            tmp_path,
            "grade_days = { A = 31, B = 92, C = 183 }\n"
            "contact_cadence_days = { A = 7, B = 14, C = 30, D = 90 }\n" + GOOD,
            "defaults.toml",
        )
    )
    own = load_policy_file(
        write(tmp_path, "contact_cadence_days = { B = 10 }\n" + GOOD, "own.toml")
    )
    kinds = load_policy_file(
        write(tmp_path, 'effective_visit_kinds = ["face_to_face"]\n' + GOOD, "kinds.toml")
    )
    assert defaults.fingerprint == plain.fingerprint
    assert plain.effective_visit_kinds is None
    assert kinds.effective_visit_kinds == ("face_to_face",)
    assert len({plain.fingerprint, own.fingerprint, kinds.fingerprint}) == 3
    assert own.contact_cadence_days.as_dict() == {"A": 7, "B": 10, "C": 30, "D": 90}
    # A store keeps the version with its values and reads it back as the same version.
    kept = KeptVersion.of(own, T).policy()
    assert kept.fingerprint == own.fingerprint and kept.cadence_days("B") == 10
    # policy show --json (and the service's /policies) shows them.
    shown = own.shown()
    assert shown["grade_days"] == {"A": 31, "B": 92, "C": 183}
    assert shown["contact_cadence_days"]["B"] == 10


def test_a_policy_grades_by_its_own_days_and_health_reads_them(tmp_path: Path) -> None:
    policy = load_policy_file(
        write(
            tmp_path,
            "grade_days = { A = 7, B = 30, C = 90 }\n"
            "contact_cadence_days = { A = 2, B = 5, C = 20, D = 60 }\n"
            "visit_target_per_week = 15\n" + GOOD,
        )
    )
    today = T.date()
    cases = {0: "A", 7: "A", 8: "B", 30: "B", 31: "C", 90: "C", 91: "D", -5: "A"}
    for days, expected in cases.items():
        close = date.fromordinal(today.toordinal() + days)
        assert grade(close, T, policy) == expected, days
    assert grade(None, T, policy) == "D"
    assert [cadence_days(g, policy) for g in "ABCD"] == [2, 5, 20, 60]
    assert policy.visit_target_per_week == 15
    # Without a policy, the defaults (the names other modules read).
    assert grade(date(2026, 5, 2), T) == "A" and grade(date(2026, 5, 3), T) == "B"
    assert GRADE_LIMITS == (("A", 31), ("B", 92), ("C", 183))
    assert dict(CADENCE_DAYS) == {"A": 7, "B": 14, "C": 30, "D": 90}
    assert [cadence_days(g) for g in "ABCD"] == [7, 14, 30, 90]


@pytest.mark.parametrize(
    ("setting", "named", "reason"),
    [
        ("grade_days = { A = 31, B = 20 }", "field 'grade_days'", "B (20) is not above A (31)"),
        ("grade_days = { B = 183 }", "field 'grade_days'", "C (183) is not above B (183)"),
        ("grade_days = { A = -1 }", "field 'grade_days.A'", "greater than or equal to 0"),
        ("grade_days = { E = 400 }", "field 'grade_days.E'", "Extra inputs are not permitted"),
        ("grade_days = { A = 1.5 }", "field 'grade_days.A'", "valid integer"),
        ("contact_cadence_days = { D = 0 }", "field 'contact_cadence_days.D'", "greater than 0"),
        ("contact_cadence_days = { a = 3 }", "field 'contact_cadence_days.a'", "Extra inputs"),
        ('contact_cadence_days = { A = "7" }', "field 'contact_cadence_days.A'", "integer"),
        ("contact_cadence_days = 7", "field 'contact_cadence_days'", "valid dictionary"),
        ("visit_target_per_week = 0", "field 'visit_target_per_week'", "greater than 0"),
        ("effective_visit_kinds = []", "field 'effective_visit_kinds'", "at least 1 item"),
        (
            'effective_visit_kinds = ["call", "call"]',
            "field 'effective_visit_kinds'",
            "repeat: call",
        ),
        ('effective_visit_kinds = ["Face"]', "field 'effective_visit_kinds[0]'", "pattern"),
    ],
)
def test_a_bad_grade_cadence_or_target_is_refused_naming_its_key(
    tmp_path: Path, setting: str, named: str, reason: str
) -> None:
    path = write(tmp_path, setting + "\n" + GOOD)
    with pytest.raises(PolicyError) as refused:
        load_policy_file(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: {named}:"), message
    assert reason in message, message
