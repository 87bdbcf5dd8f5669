"""The dashboard ships whole inside the package and loads nothing from elsewhere: every
file under service/static is matched by the package data of pyproject.toml, the page
names only files that exist, and no asset refers to another host."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from salesengine.service.dashboard import STATIC

ROOT = Path(__file__).parents[2]


def test_every_asset_is_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["salesengine.service"]
    shipped = {p for g in globs for p in STATIC.parent.glob(g)}
    assets = {p for p in STATIC.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert assets
    assert assets <= shipped, sorted(str(p) for p in assets - shipped)


def test_the_page_names_only_shipped_files() -> None:
    page = (STATIC / "index.html").read_text()
    named = re.findall(r'(?:src|href)="/static/([^"]+)"', page)
    assert "app.js" in named
    for name in named:
        assert (STATIC / name).is_file(), name
    for script in STATIC.rglob("*.js"):
        for module in re.findall(r'from "(\.{1,2}/[^"]+)"', script.read_text()):
            assert (script.parent / module).resolve().is_file(), (script.name, module)


def test_no_asset_reaches_another_host() -> None:
    for asset in STATIC.rglob("*"):
        if asset.is_file() and asset.suffix in {".html", ".js", ".css"}:
            text = asset.read_text()
            assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text), asset.name
            assert "@import" not in text and "@font-face" not in text, asset.name
