"""Signed checkpoints on a store, verification that resumes from one, and the upgrade of
a store written before chaining began, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from salesengine.audit.keys import SignerKey
from salesengine.audit.verify import StoreReport, make_checkpoint, verify_store
from salesengine.audit_verifier import Checkpoint
from salesengine.store.settings import StoreSettings, store_settings
from salesengine.store.sql import sql_engine
from tests.support.audit import StoreTables, both_verdicts, rechain, write_history
from tests.support.commands import cmd
from tests.support.stores import StoreFactory


@pytest.fixture
def store(make_engine: StoreFactory, store_url: str) -> Iterator[tuple[StoreSettings, Engine]]:
    write_history(make_engine())
    settings = store_settings(store_url, creating=False)
    sql = sql_engine(settings, reader=True)
    yield settings, sql
    sql.dispose()


KEY = SignerKey.generate("auditor")


def checkpoint(store: tuple[StoreSettings, Engine], key: SignerKey = KEY) -> Checkpoint:
    made, verified = make_checkpoint(*store, key)
    assert made is not None, verified.report.findings
    return made


def verify(
    store: tuple[StoreSettings, Engine], since: Checkpoint | None = None, key: SignerKey = KEY
) -> StoreReport:
    return verify_store(*store, [key.verifier()], since)


def test_a_checkpoint_signs_the_log_size_and_root_in_the_signed_note_format(
    store: tuple[StoreSettings, Engine],
) -> None:
    made = checkpoint(store)
    origin, size, root, blank, signature, end = made.note.split("\n")
    assert origin.startswith("salesengine/") and (size, blank, end) == ("13", "", "")
    assert base64.b64decode(root) == made.root and len(made.root) == 32
    assert signature.startswith("\u2014 auditor ")
    assert made.signed_by(KEY.verifier())
    assert not made.signed_by(SignerKey.generate("auditor").verifier())
    report = verify(store).report
    assert report.holds and report.checkpoints == 1
    assert made.root == report.root and made.size == report.size == 13


def test_a_rewritten_history_with_a_rechained_table_is_caught_by_the_checkpoint_alone(
    store: tuple[StoreSettings, Engine], store_url: str
) -> None:
    checkpoint(store)
    tables = StoreTables(store_url)
    tables.run(f"UPDATE {tables.events} SET topic = topic || 'x' WHERE {tables.position} = 4")
    rechain(tables)  # every stored hash recomputed to match: only the signature knows
    findings = verify(store).report.findings
    assert [(f.kind, f.version) for f in findings] == [("checkpoint", 13)]
    assert "root is not the root recomputed" in findings[0].details[0]
    in_store, standalone = both_verdicts(store_url, [KEY.verifier()])
    assert in_store.report.findings == standalone.findings == findings


def test_a_truncated_log_is_caught_by_the_checkpoint_that_covered_it(
    store: tuple[StoreSettings, Engine], store_url: str
) -> None:
    made = checkpoint(store)
    tables = StoreTables(store_url)
    tables.run(f"DELETE FROM {tables.events} WHERE {tables.position} >= 12")
    tables.run(f"DELETE FROM {tables.chain} WHERE position >= 12")
    findings = verify(store).report.findings
    assert [f.kind for f in findings] == ["checkpoint"]
    assert "truncated" in findings[0].details[0]
    resumed = verify(store, made).report.findings
    assert any("truncated" in f.details[0] for f in resumed)


def test_a_checkpoint_by_an_unknown_key_or_with_a_forged_signature_does_not_hold(
    store: tuple[StoreSettings, Engine],
) -> None:
    other = SignerKey.generate("auditor")
    checkpoint(store, other)
    findings = verify(store).report.findings  # checked with KEY: the name matches, not the key
    assert [f.kind for f in findings] == ["checkpoint"]
    assert "no valid signature" in findings[0].details[0]
    assert verify(store, key=other).report.holds
    assert verify_store(*store, []).report.findings[0].details == (
        "no public key was given to check its signature",
    )


def test_verification_resumes_from_a_checkpoint_reading_only_what_came_after(
    store: tuple[StoreSettings, Engine], make_engine: StoreFactory, store_url: str
) -> None:
    made = checkpoint(store)
    engine = make_engine()
    engine.execute(cmd(cmd="amount", deal="A", amount="7000"))  # continues deal A: v5
    engine.execute(cmd(cmd="amount", deal="C", amount="70"))
    resumed = verify(store, made).report
    assert resumed.holds and resumed.entries == 2 and resumed.size == 15
    assert resumed.root == verify(store).report.root
    # an edit after the checkpoint is found when resuming; one before it is not read
    tables = StoreTables(store_url)
    tables.run(f"UPDATE {tables.events} SET topic = topic || 'x' WHERE {tables.position} = 15")
    tables.run(f"UPDATE {tables.events} SET topic = topic || 'x' WHERE {tables.position} = 2")
    assert [(f.kind, f.position) for f in verify(store, made).report.findings] == [("edited", 15)]
    found = verify(store).report.findings
    assert [(f.kind, f.position) for f in found][:2] == [("edited", 2), ("edited", 15)]


def test_a_log_inconsistent_with_the_checkpoint_resumed_from_is_named(
    store: tuple[StoreSettings, Engine], store_url: str
) -> None:
    made = checkpoint(store)
    tables = StoreTables(store_url)
    tables.run(f"UPDATE {tables.events} SET topic = topic || 'x' WHERE {tables.position} = 3")
    rechain(tables)
    findings = verify(store, made).report.findings
    assert any(f.kind == "checkpoint" and "not consistent" in f.details[0] for f in findings), (
        findings
    )


def test_a_store_written_before_chaining_is_chained_on_open_and_says_since_when(
    make_engine: StoreFactory, store_url: str, store: tuple[StoreSettings, Engine]
) -> None:
    tables = StoreTables(store_url)
    before = verify(store).report.root
    tables.run(f"DELETE FROM {tables.chain}")
    tables.run("DELETE FROM salesengine_audit_meta")  # as a store of the previous release
    engine = make_engine()  # the open chains it
    report = verify(store)
    assert report.report.holds and report.report.root == before
    assert (report.start.upgraded_through, report.start.upgraded_events) == (13, 13)
    assert report.start.chained_since is not None
    engine.execute(cmd(cmd="amount", deal="B", amount="10"))
    after = verify(store)
    assert after.report.holds and after.report.size == 14
    assert after.start.upgraded_through == 13  # recorded once, not on later opens
    make_engine()
    assert verify(store).start == after.start


def test_a_position_whose_event_was_deleted_is_never_reused_by_a_later_write(
    store: tuple[StoreSettings, Engine], make_engine: StoreFactory, store_url: str
) -> None:
    tables = StoreTables(store_url)
    tables.run(f"DELETE FROM {tables.events} WHERE {tables.position} = 13")
    make_engine().execute(cmd(cmd="amount", deal="C", amount="80"))
    assert tables.events_at()[-1][0] == 14
    findings = verify(store).report.findings
    assert [(f.kind, f.position) for f in findings] == [("removed", 13)]
