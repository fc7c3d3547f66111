"""The JSON Schema of workflow files, generated from ``app.workflows.document`` so it cannot drift from
what the loader accepts. Editors read it through the ``#:schema ./schema.json`` line at the top of a
file (taplo, Even Better TOML), and check keys, types and enums while one types.

    python -m app.workflows.schema workflows/schema.json
"""

import json
import sys
from pathlib import Path
from typing import Any

from app.workflows.document import WorkflowFile
from app.workflows.spec import InputType

# Draft 7 with "definitions": the newest dialect TOML editors read (taplo's validator is older still,
# so the schema keeps to keywords every draft since 4 knows).
DIALECT = "http://json-schema.org/draft-07/schema#"
REGENERATE = "python -m app.workflows.schema workflows/schema.json"
_INPUT_TYPES = ("The input's type: str, int, float, bool, email, uuid, datetime (ISO 8601 with an offset), "
                "or json (any JSON value, the only type whose keys templates may reach into).")


def json_schema() -> dict[str, Any]:
    schema = WorkflowFile.model_json_schema(ref_template="#/definitions/{model}")
    definitions = schema.pop("$defs")
    definitions[InputType.__name__]["description"] = _INPUT_TYPES
    tidied = tidy({**schema, "definitions": definitions})
    return {"$schema": DIALECT, **tidied, "title": "Flowplane workflow"}


def tidy(node: Any) -> Any:
    """Drop pydantic's generated titles and null defaults (TOML has no null), and move a ``$ref``'s
    siblings beside an ``allOf`` (before draft 2019-09, keywords beside ``$ref`` are ignored)."""
    if isinstance(node, list):
        return [tidy(item) for item in node]
    if not isinstance(node, dict):
        return node
    tidied = {key: tidy(value) for key, value in node.items()
              if not (key == "title" and isinstance(value, str)) and not (key == "default" and value is None)}
    if "$ref" in tidied and len(tidied) > 1:
        tidied["allOf"] = [{"$ref": tidied.pop("$ref")}]
    return tidied


def render(schema: dict[str, Any] | None = None) -> str:
    """``schema`` (default: the workflows' one) as the stable JSON text committed beside the files."""
    return json.dumps(json_schema() if schema is None else schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_schema(path: Path, schema: dict[str, Any] | None = None) -> None:
    path.write_text(render(schema), encoding="utf-8")


if __name__ == "__main__":
    write_schema(Path(sys.argv[1] if len(sys.argv) > 1 else "workflows/schema.json"))
