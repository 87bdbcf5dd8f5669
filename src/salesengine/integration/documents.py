"""The published contract as files: one AsyncAPI 3 document per broker, and one JSON
schema per event type. Both are generated from the code (the transports' faststream
publishers and the pydantic models) and committed under ``docs/integration/``; a test
fails when the committed files and the code drift apart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from faststream.specification import AsyncAPI

from salesengine import __version__
from salesengine.integration.contract import MODELS, SCHEMA_VERSION
from salesengine.integration.transports import TRANSPORTS, make_broker, parse_broker_url

# The server each document names; subscribers put their own.
EXAMPLE_URLS = {
    "nats": "nats://localhost:4222",
    "rabbit": "amqp://guest:guest@localhost:5672/",
    "redis": "redis://localhost:6379",
    "kafka": "kafka://localhost:9092",
}
DESCRIPTION = (
    "Deal events of salesengine, relayed from its event store in log order, at least "
    "once, in order per deal. Deduplicate by the message's `id`. Subjects read "
    "`salesengine.deal.<policy>.<event>`."
)


def asyncapi_document(kind: str) -> dict[str, Any]:
    """The AsyncAPI 3 document of the relay's publishers on one kind of broker."""
    url = parse_broker_url(EXAMPLE_URLS[kind])
    transport = TRANSPORTS[kind](make_broker(url))
    spec = AsyncAPI(
        transport.broker,
        title="salesengine integration events",
        version=__version__,
        description=DESCRIPTION,
        schema_version="3.0.0",
    ).to_specification()
    document: dict[str, Any] = json.loads(spec.to_json())
    return document


def json_schemas() -> dict[str, dict[str, Any]]:
    """Each event type's JSON schema, by file name."""
    return {
        f"{name}.v{SCHEMA_VERSION}.json": model.model_json_schema(mode="serialization")
        for name, model in MODELS.items()
    }


def contract_files() -> dict[str, str]:
    """Every contract file, by its path under the contract directory, as text."""
    files = {f"asyncapi-{kind}.json": _text(asyncapi_document(kind)) for kind in EXAMPLE_URLS}
    files.update({f"schemas/{name}": _text(s) for name, s in json_schemas().items()})
    return files


def write_contract(directory: Path) -> list[Path]:
    written = []
    for name, text in contract_files().items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def contract_drift(directory: Path) -> list[str]:
    """What differs between the committed files and the code, one line per file."""
    problems = []
    files = contract_files()
    for name, text in files.items():
        path = directory / name
        if not path.is_file():
            problems.append(f"{path}: missing")
        elif json.loads(path.read_text(encoding="utf-8")) != json.loads(text):
            problems.append(f"{path}: differs from the code")
    for path in sorted(directory.rglob("*.json")):
        if str(path.relative_to(directory)) not in files:
            problems.append(f"{path}: no longer generated")
    return problems


def _text(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
