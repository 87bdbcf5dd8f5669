"""What the benchmarks share: where they keep data, how they name stores, how they speak."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

PG_URL_ENV = "SALESENGINE_PG_URL"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
DATA_DIR = Path(__file__).resolve().parent / ".data"


def status(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def stop(process: subprocess.Popen[bytes]) -> None:
    """End a server the bench started: asked first, killed after 15 s."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def yes(flag: bool) -> str:
    return "met" if flag else "NOT met"


def parser_with_stores(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser with the options every benchmark takes: which stores, and where."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0] if doc else None)
    parser.add_argument("--store", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(PG_URL_ENV, DEFAULT_PG_URL),
        help=f"PostgreSQL URL (default: ${PG_URL_ENV} or {DEFAULT_PG_URL})",
    )
    return parser


def remove_sqlite(db: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def with_schema(url: str, schema: str) -> str:
    parts = urlsplit(url)
    query = f"{parts.query}&schema={schema}" if parts.query else f"schema={schema}"
    return urlunsplit(parts._replace(query=query))


def without_query(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(query=""))


def postgres_version(url: str) -> str:
    with psycopg.connect(without_query(url)) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


def drop_schemas(url: str, *names: str) -> None:
    with psycopg.connect(without_query(url), autocommit=True) as conn:
        for name in names:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@dataclass(slots=True)
class Schemas:
    """Fresh PostgreSQL schemas, dropped on exit however the run ends."""

    url: str
    names: tuple[str, ...]

    def __enter__(self) -> Schemas:
        with psycopg.connect(without_query(self.url), autocommit=True) as conn:
            for name in self.names:
                conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(name)))
        return self

    def __exit__(self, *_: object) -> None:
        drop_schemas(self.url, *self.names)


@contextmanager
def work_dir(*, keep: bool) -> Iterator[Path]:
    """Where a run keeps its stores: bench/.data when they are kept for the next run,
    otherwise a temporary directory removed at the end."""
    if keep:
        DATA_DIR.mkdir(exist_ok=True)
        yield DATA_DIR
        return
    path = Path(tempfile.mkdtemp(prefix="salesengine-bench-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
