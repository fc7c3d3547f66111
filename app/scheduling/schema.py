"""The JSON Schema of schedule files, generated from ``app.scheduling.document`` so it cannot drift from
what the loader accepts; editors read it through the ``#:schema ./schema.json`` line of each file.

    python -m app.scheduling.schema schedules/schema.json
"""

import sys
from pathlib import Path
from typing import Any

from app.scheduling.document import ScheduleFile
from app.workflows.schema import DIALECT, tidy, write_schema

REGENERATE = "python -m app.scheduling.schema schedules/schema.json"


def json_schema() -> dict[str, Any]:
    schema = ScheduleFile.model_json_schema(ref_template="#/definitions/{model}")
    definitions = schema.pop("$defs", {})
    return {"$schema": DIALECT, **tidy({**schema, "definitions": definitions}), "title": "Flowplane schedule"}


if __name__ == "__main__":
    write_schema(Path(sys.argv[1] if len(sys.argv) > 1 else "schedules/schema.json"), json_schema())
