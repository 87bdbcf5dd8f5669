"""For any history and any choice of deals, an export signed by a checkpoint verifies
against its manifest, whose positions are exactly the exported events' and whose chain
rows end at the checkpoint's root; events after the checkpoint leave the export
unsigned, and its verification says so."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from salesengine.audit.keys import SignerKey
from salesengine.audit.manifest import build_manifest, write_manifest
from salesengine.audit.verify import make_checkpoint
from salesengine.audit_verifier import verify_manifest
from salesengine.bootstrap import build_engine
from salesengine.exporting.tables import export_tables
from salesengine.exporting.xes import export_xes
from salesengine.store.settings import store_settings
from salesengine.store.sql import sql_engine
from tests.integration.test_audit_properties import DEALS, histories, write
from tests.support.clock import Clock
from tests.support.stores import fresh_db

KEY = SignerKey.generate("auditor")
LATER = datetime(2100, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    batches=histories,
    chosen=st.sets(st.sampled_from(DEALS), min_size=1),
    fmt=st.sampled_from(("xes", "csv")),
    after=st.booleans(),
)
def test_any_export_of_any_deals_verifies_against_its_manifest_up_to_the_checkpoint(
    kind: str,
    tmp_path: Path,
    batches: list[list[tuple[str, str, int]]],
    chosen: set[str],
    fmt: str,
    after: bool,
) -> None:
    with fresh_db(kind, tmp_path) as url:
        engine = build_engine(url, clock=Clock(), actor="tester")
        settings_ = store_settings(url, creating=False)
        sql = sql_engine(settings_, reader=True)
        try:
            write(engine, batches[:-1] if after else batches)
            made, _ = make_checkpoint(settings_, sql, KEY)
            assert made is not None
            if after:  # events after the checkpoint: no checkpoint covers the deals they touch
                write(engine, batches[-1:])
            keys = [k for k in DEALS if k in chosen]
            stored = sum(len(engine.deal_events(k).timeline) for k in keys)
            with tempfile.TemporaryDirectory(dir=tmp_path) as work:
                target = Path(work) / ("log.xes" if fmt == "xes" else "tables")
                if fmt == "xes":
                    summary = export_xes(engine, target, LATER, LATER, keys=keys)
                else:
                    summary = export_tables(engine, target, "csv", LATER, LATER, keys=keys)
                write_manifest(settings_, sql, target, summary.files, summary.positions, {})
                report = verify_manifest(target, [KEY.verifier()])
                found = build_manifest(settings_, sql, summary.files, summary.positions, {})
        finally:
            sql.dispose()
            engine.close()
    # every event of the chosen deals, each once
    assert found["positions"] == sorted(set(summary.positions))
    assert len(found["positions"]) == summary.events == stored
    if found["checkpoint"] is None:
        assert after  # only events after the checkpoint leave an export unsigned
        assert [f.kind for f in report.findings] == ["checkpoint"]
        assert "carries none" in report.findings[0].why
    else:
        assert report.holds, [f.line() for f in report.findings]
        assert found["chain"][-1]["seq"] == made.size == report.checkpoint_size
