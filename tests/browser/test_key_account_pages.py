"""The key-account pages: Quotas & V, Portfolio and Anomalies show, cell by cell, what
the API answers for the same instant (and the API is the command line's --json, tested
in tests/service): the V value against its threshold of 1, the funnel shape against the
pyramid, the projection's 80% bands, and the anomalies filtered by kind, each a link to
the deal's replay."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tests.browser.conftest import REP
from tests.browser.dashboard import number, sign_in, table_rows, wait_for_report, wait_ready

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.browser.stores import DemoStore


SHOWN = 200  # the rows the anomalies page draws at most


def _shown(instant: str) -> str:
    return datetime.fromisoformat(instant).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _money(text: str) -> Decimal | None:
    return None if text in ("–", "") else number(text.rstrip("*"))


def _amount(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def test_quotas_and_v_show_each_subjects_figures_and_the_threshold(
    page: Page, demo: DemoStore
) -> None:
    token = demo.tokens["manager"]
    as_of = _now()
    sign_in(page, demo.server.url, token, f"#/quotas?as_of={as_of}")
    wait_for_report(page, as_of=as_of)
    api = demo.server.api(token, "/reports/vvalue", as_of=as_of)
    shown = table_rows(page, "v-table")
    assert [(r["kind"], r["subject"]) for r in shown] == [
        (r["kind"], r["subject"] or "(no team)") for r in api["rows"]
    ]
    for cells, row in zip(shown, api["rows"], strict=True):
        assert _money(cells["quota"]) == _amount(row["quota"])
        assert _money(cells["won"]) == Decimal(row["won"])
        assert _money(cells["remaining_quota"]) == _amount(row["remaining_quota"])
        assert _money(cells["pipeline"]) == Decimal(row["pipeline"])
        expected = (
            "met" if row["met"] else "none" if row["v"] is None
            else "covered" if Decimal(row["v"]) >= 1 else "short"
        )  # fmt: skip
        assert cells["standing"] == expected, (cells, row)
        assert cells["v"] == ("met" if row["met"] else row["v"] or "–")
    # The demo sets every rep a quota and leaves some short of it, some covered.
    standings = {r["standing"] for r in shown if r["kind"] == "rep"}
    assert "short" in standings, shown
    short = page.locator("[data-testid=v-table] tr[data-standing=short] .v-short").first
    assert short.evaluate("e => getComputedStyle(e).color") == "rgb(208, 69, 59)"
    quotas = demo.server.api(token, "/quotas", as_of=as_of, period=api["period"]["name"])
    listed = table_rows(page, "quota-table")
    assert [(r["kind"], r["subject"]) for r in listed] == [
        (q["kind"], q["subject"]) for q in quotas["quotas"]
    ]
    assert page.inner_text("[data-testid=v-period]") == api["period"]["name"]


def test_a_rep_sees_only_their_own_quota(page: Page, demo: DemoStore) -> None:
    token = demo.tokens["rep"]
    as_of = _now()
    sign_in(page, demo.server.url, token, f"#/quotas?as_of={as_of}")
    wait_for_report(page, as_of=as_of)
    listed = table_rows(page, "quota-table")
    assert [(r["kind"], r["subject"]) for r in listed] == [("rep", REP)]
    reps = [r["subject"] for r in table_rows(page, "v-table") if r["kind"] == "rep"]
    assert reps == [REP]


def _shape_cells(group: dict[str, Any]) -> list[str]:
    return [
        f"{s['deals']}" + ("" if s["least"] is None else f" / {s['least']}")
        for s in group["stages"]
    ]


def test_portfolio_shows_the_shape_against_the_pyramid_and_the_projection_bands(
    page: Page, demo: DemoStore
) -> None:
    token = demo.tokens["auditor"]
    as_of = _now()
    sign_in(page, demo.server.url, token, f"#/portfolio?as_of={as_of}")
    wait_for_report(page, as_of=as_of)
    shape = demo.server.api(token, "/reports/portfolio/shape", as_of=as_of)
    reps = [g for g in shape["groups"] if g["level"] == "rep"]
    shown = table_rows(page, "shape-rep")
    assert [r["name"] for r in shown] == [g["name"] or "(none)" for g in reps]
    for cells, group in zip(shown, reps, strict=True):
        stages = [cells[f"stage_{i}"] for i in range(len(group["stages"]))]
        assert stages == _shape_cells(group)
        short = ", ".join(group["not_pyramid"])
        assert cells["pyramid"] == ("yes" if group["pyramid"] else f"no: {short}")
    projection = demo.server.api(token, "/reports/portfolio/projection", as_of=as_of, runs="1000")
    rows = table_rows(page, "projection-table")
    assert len(rows) == len(projection["groups"])
    for cells, group in zip(rows, projection["groups"], strict=True):
        assert int(cells["open_now"]) == group["open_now"]
        band = group["open"]
        assert cells["open"] == f"{band['mean']:.1f} [{band['p10']:.1f}, {band['p90']:.1f}]"
    reps_chart = page.locator("svg[aria-label='Open deals per rep at the horizon, 80% band'] rect")
    assert reps_chart.count() == sum(g["level"] == "rep" for g in projection["groups"])
    first = next(g for g in projection["groups"] if g["level"] == "rep")
    band = first["open"]
    label = (
        f"{first['name']}: 80% band {band['p10']:.1f} to {band['p90']:.1f}, mean {band['mean']:.1f}"
    )
    assert reps_chart.first.text_content() == label
    runs = page.inner_text("[data-testid=projection-runs]")
    assert runs.startswith(f"{projection['runs']:,} runs, seed {projection['seed']}")


def test_anomalies_filter_by_kind_and_link_to_the_replay(page: Page, demo: DemoStore) -> None:
    token = demo.tokens["auditor"]
    as_of = _now()
    sign_in(page, demo.server.url, token, f"#/anomalies?as_of={as_of}")
    wait_for_report(page, as_of=as_of)
    api = demo.server.api(token, "/reports/anomalies", as_of=as_of)
    counts = {r["kind"]: int(number(r["rows"])) for r in table_rows(page, "anomaly-counts")}
    assert counts == {k.replace("_", " "): n for k, n in api["counts"].items()}
    assert len(table_rows(page, "anomaly-rows")) == min(len(api["rows"]), SHOWN)
    kind = max(api["counts"], key=lambda k: api["counts"][k])
    assert api["counts"][kind] > 0
    page.click(f"[data-testid=kind-link][data-kind={kind}]")
    page.wait_for_function(
        "k => document.querySelector('[data-testid=anomaly-heading]')?.innerText.startsWith("
        "k.replaceAll('_', ' '))",
        arg=kind,
    )
    wait_ready(page)
    rows = table_rows(page, "anomaly-rows")
    assert {r["kind"] for r in rows} == {kind.replace("_", " ")}
    of_kind = [a for a in api["rows"] if a["kind"] == kind]
    assert [r["deal"] for r in rows] == [a["deal"] for a in of_kind][:SHOWN]
    assert [r["since"] for r in rows] == [_shown(a["since"]) for a in of_kind][:SHOWN]
    assert f"kind={kind}" in page.url
    key = rows[0]["deal"]
    page.click(f"[data-testid=anomaly-rows] tr[data-deal='{key}'] [data-testid=deal-link]")
    page.wait_for_url(f"**/#/deal/{key}*")
    wait_ready(page)
    history = demo.server.api(token, f"/deals/{key}/history")
    versions = [int(r["version"]) for r in table_rows(page, "replay-events")]
    assert versions == [e["version"] for e in history["events"]]
