import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator

from app.scheduling import cron
from app.scheduling.document import CRON_PATTERN
from app.scheduling.schema import REGENERATE, json_schema
from app.workflows.schema import render

SCHEDULES = Path(__file__).parents[3] / "schedules"
EXAMPLES = sorted(SCHEDULES.glob("*.toml"))


@pytest.fixture(scope="module")
def validator() -> Draft7Validator:
    schema = json_schema()
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


def example() -> dict[str, Any]:
    return tomllib.loads((SCHEDULES / "monthly_signup_report.toml").read_text(encoding="utf-8"))


def test_the_committed_schema_is_the_generated_one() -> None:
    committed = (SCHEDULES / "schema.json").read_text(encoding="utf-8")
    assert committed == render(json_schema()), f"schedules/schema.json is stale: run `{REGENERATE}`"
    assert json.loads(committed)["title"] == "Flowplane schedule"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.name)
def test_the_example_files_are_valid_and_name_the_schema(validator: Draft7Validator, path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == "#:schema ./schema.json"
    assert list(validator.iter_errors(tomllib.loads(text))) == []


def test_there_are_example_files() -> None:
    assert {path.name for path in EXAMPLES} == {"monthly_signup_report.toml", "session_cleanup.toml",
                                                "data_retention.toml"}


@pytest.mark.parametrize(
    "change",
    [lambda data: data.update(every="10m"),  # both cron and every
     lambda data: data.pop("cron"),  # neither
     lambda data: data.update(cron="0 6 1 *"),
     lambda data: data.update(cron="0 6 * * 1-5"),
     lambda data: data.update(overlap="deny"),
     lambda data: data.update(misfire_grace="an hour"),
     lambda data: data.update(enabled="yes"),
     lambda data: data.update(name="Monthly"),
     lambda data: data.update(nmae="x"),
     lambda data: data.pop("target"),
     lambda data: data["target"].update(workflow="user_registration"),
     lambda data: data["target"].pop("task"),
     lambda data: data["target"].update(payload=[]),
     lambda data: data["target"].update(enabled=False)],
)
def test_the_schema_rejects_what_the_loader_rejects(validator: Draft7Validator, change: Any) -> None:
    data = example()
    change(data)
    assert list(validator.iter_errors(data))


@settings(max_examples=200)
@given(st.lists(st.sampled_from(["*", "0", "1-5", "*/15", "mon", "mon-fri", "sun", "jan", "7", ","]),
                min_size=1, max_size=6), st.sampled_from([" ", "  ", "\t"]))
def test_the_cron_pattern_accepts_what_the_checker_accepts(fields: list[str], space: str) -> None:
    expression = space.join(fields)
    if not cron.check(expression):
        assert re.fullmatch(CRON_PATTERN, expression)
