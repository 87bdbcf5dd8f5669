"""How the service answers a read: the document as plain JSON, with how fresh the read
models were (``X-Log-Position``, ``X-Read-Models-Behind``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.responses import JSONResponse
from sqlalchemy import Connection

from salesengine.application.json_form import jsonable
from salesengine.service.context import ServiceContext
from salesengine.store.sql import store_errors


@contextmanager
def read_models(ctx: ServiceContext) -> Iterator[Connection]:
    with store_errors("read the read models"), ctx.reads.connect() as conn:
        yield conn


def fresh(ctx: ServiceContext, document: Callable[[Connection], Any]) -> JSONResponse:
    """``document`` read from the read models, and how far behind the log they were: the
    freshness is read first, so the document includes at least what the header says.
    Both through one connection: each checkout is a round trip or more to the database,
    and under load every round trip waits its turn for a CPU and for the GIL."""
    with read_models(ctx) as conn:
        seen = ctx.freshness(conn)
        body = document(conn)
    headers = {"X-Log-Position": str(seen.log_position), "X-Read-Models-Behind": str(seen.behind)}
    return JSONResponse(jsonable(body), headers=headers)
