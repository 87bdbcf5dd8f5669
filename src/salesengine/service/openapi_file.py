"""The committed copy of the API's OpenAPI document, docs/openapi.json:
``python -m salesengine.service.openapi_file > docs/openapi.json`` writes it again.

Apart from service/openapi.py, which the routes import for what they declare: this
builds the whole app, and would otherwise close an import cycle through it."""

from __future__ import annotations

import json
import sys

from fastapi import FastAPI

from salesengine.service.app import create_app
from salesengine.service.context import ServiceSettings

REGENERATE = "python -m salesengine.service.openapi_file > docs/openapi.json"


def text(app: FastAPI) -> str:
    """The document as docs/openapi.json holds it: FastAPI's key order, indented by 2."""
    return json.dumps(app.openapi(), indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    sys.stdout.buffer.write(text(create_app(ServiceSettings())).encode())


if __name__ == "__main__":
    main()
