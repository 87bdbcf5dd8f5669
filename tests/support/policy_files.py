"""A small valid policy file, written where a test reads its policies from."""

from __future__ import annotations

from pathlib import Path

GOOD = """
name = "mini"
title = "Mini"
[[stages]]
key = "first"
name = "First"
name_zh = "第一"
probability = 10
role = "rep"
[[stages]]
key = "second"
name = "Second"
name_zh = "第二"
probability = 60
role = "rep"
criteria = [{ key = "budget", description = "Budget" }]
"""


def write(tmp_path: Path, text: str, name: str = "mini.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path
