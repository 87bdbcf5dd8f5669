"""The committed OpenAPI document (docs/openapi.json) is the app's own, and it is
honest: every answer an endpoint gives is declared, each error as a problem document."""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from salesengine.service.app import create_app
from salesengine.service.context import ServiceSettings
from salesengine.service.openapi_file import REGENERATE, text
from salesengine.service.problems import MEDIA_TYPE

COMMITTED = Path(__file__).parents[2] / "docs" / "openapi.json"


def operations(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]


def test_the_committed_document_is_the_apps() -> None:
    generated = text(create_app(ServiceSettings()))
    committed = COMMITTED.read_text(encoding="utf-8")
    if committed != generated:
        diff = difflib.unified_diff(
            committed.splitlines(), generated.splitlines(), "docs/openapi.json", "the app", n=1
        )
        shown = "\n".join(list(diff)[:40])
        pytest.fail(
            f"docs/openapi.json is not the app's OpenAPI document; regenerate it with\n"
            f"  .venv/bin/{REGENERATE}\nand commit it. The difference:\n{shown}"
        )


def test_the_app_serves_the_committed_document() -> None:
    # No lifespan: the document needs no store.
    client = TestClient(create_app(ServiceSettings()))
    answer = client.get("/api/v1/openapi.json")
    assert answer.status_code == 200
    assert answer.json() == json.loads(COMMITTED.read_text(encoding="utf-8"))


def test_it_is_openapi_3_1_with_every_operation_behind_the_bearer_token() -> None:
    document = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert document["openapi"].startswith("3.1.")
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for name, operation in operations(document):
        assert operation["security"] == [{"HTTPBearer": []}], name
        assert "401" in operation["responses"], name
        assert "503" in operation["responses"], name


def test_every_error_is_declared_as_a_problem_document() -> None:
    document = json.loads(COMMITTED.read_text(encoding="utf-8"))
    problem = {"$ref": "#/components/schemas/ProblemDocument"}
    for name, operation in operations(document):
        errors = {s: r for s, r in operation["responses"].items() if int(s) >= 400}
        assert errors, name
        for status, response in errors.items():
            assert response["content"] == {MEDIA_TYPE: {"schema": problem}}, (name, status)
        if operation.get("parameters") or operation.get("requestBody"):
            assert "422" in errors, name
    # The framework's own validation error shape is never answered, so never declared.
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_every_success_declares_its_document() -> None:
    document = json.loads(COMMITTED.read_text(encoding="utf-8"))
    schemas = document["components"]["schemas"]
    for name, operation in operations(document):
        # Its success: 200, or 201 for what it creates (an erasure's receipt).
        success = next(s for s in ("200", "201") if s in operation["responses"])
        content = operation["responses"][success]["content"]
        if "application/json" not in content:  # an export's file, the feed's stream
            assert content, name
            assert all(c["schema"]["type"] == "string" for c in content.values()), name
            continue
        schema = content["application/json"]["schema"]
        # One document, or one of several (a plan, or plans per rep; a year's quotas, or
        # a period's): each a closed object.
        for one in schema.get("anyOf", [schema]):
            model = one["$ref"].removeprefix("#/components/schemas/")
            assert schemas[model]["type"] == "object", name
            assert schemas[model]["required"], name
            assert schemas[model]["additionalProperties"] is False, name


def test_the_reports_and_the_list_declare_their_freshness_headers() -> None:
    document = json.loads(COMMITTED.read_text(encoding="utf-8"))
    for name, operation in operations(document):
        if "/reports/" in name or name == "GET /api/v1/deals":
            headers = operation["responses"]["200"]["headers"]
            assert set(headers) == {"X-Log-Position", "X-Read-Models-Behind"}, name
