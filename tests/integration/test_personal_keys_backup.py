"""Backups and the personal data keys: a backup carries the keys, so a restored store
reads its personal data; and an erasure must outlive a restore of an older backup."""

from __future__ import annotations

from salesengine.application.erasure import erase
from salesengine.bootstrap import build_engine
from salesengine.domain.personal import ERASED
from salesengine.store.backup import backup, restore
from tests.support.audit import StoreTables
from tests.support.backup_stores import Stores, settings
from tests.support.clock import T0
from tests.support.commands import FIVE_LEVEL_OPENING, cmd
from tests.support.personal_keys import subjects_of_label, unstored_seals, visits


def write_visit(url: str) -> None:
    engine = build_engine(url, actor="tester")
    try:
        engine.execute(
            cmd(cmd="open", deal="D-1", policy="five-level", at=T0, facts=FIVE_LEVEL_OPENING)
        )
        engine.execute(cmd(cmd="visit", deal="D-1", attendees=["Ivy"], note="with Ivy"))
    finally:
        engine.close()


def read_visits(url: str) -> list[tuple[list[str], str | None]]:
    engine = build_engine(url, actor="reader", create=False)
    try:
        return visits(engine, "D-1")
    finally:
        engine.close()


def test_a_restored_store_reads_its_personal_data(stores: Stores) -> None:
    write_visit(stores.source)
    backup(settings(stores.source), stores.file)
    restore(stores.file, settings(stores.target))
    assert read_visits(stores.target) == [(["Ivy"], "with Ivy")]
    tables = StoreTables(stores.target)
    assert len(subjects_of_label(tables, "Ivy")) == 1
    assert unstored_seals(tables) == set()


def test_an_erasure_outlives_a_restore_of_a_backup_taken_before_it(stores: Stores) -> None:
    write_visit(stores.source)
    backup(settings(stores.source), stores.file)
    restore(stores.file, settings(stores.target))
    engine = build_engine(stores.target, actor="dpo", create=False)
    try:
        erase(engine, "person:Ivy")
    finally:
        engine.close()
    assert read_visits(stores.target) == [([ERASED], ERASED)]
    # The operator restores the older backup over the store (say, after a failed disk).
    done = restore(stores.file, settings(stores.target), force=True)
    assert done.kept_erased == 1, "the key of Ivy, which the backup still held"
    assert read_visits(stores.target) == [([ERASED], ERASED)]
