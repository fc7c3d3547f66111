import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator

from app.durations import parse_duration
from app.workflows.document import DURATION_PATTERN
from app.workflows.schema import REGENERATE, json_schema, render, write_schema

WORKFLOWS = Path(__file__).parents[3] / "workflows"


@pytest.fixture(scope="module")
def validator() -> Draft7Validator:
    schema = json_schema()
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


def example() -> dict[str, Any]:
    return tomllib.loads((WORKFLOWS / "user_registration.toml").read_text(encoding="utf-8"))


def test_the_committed_schema_is_the_generated_one() -> None:
    committed = (WORKFLOWS / "schema.json").read_text(encoding="utf-8")
    assert committed == render(), f"workflows/schema.json is stale: run `{REGENERATE}`"


def test_write_schema_writes_stable_json_with_a_trailing_newline(tmp_path: Path) -> None:
    write_schema(tmp_path / "schema.json")
    text = (tmp_path / "schema.json").read_text(encoding="utf-8")
    assert text.endswith("}\n") and json.loads(text) == json_schema()
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def test_the_example_file_is_valid(validator: Draft7Validator) -> None:
    assert list(validator.iter_errors(example())) == []


def test_the_example_file_names_the_schema() -> None:
    first_line = (WORKFLOWS / "user_registration.toml").read_text(encoding="utf-8").splitlines()[0]
    assert first_line == "#:schema ./schema.json"


@pytest.mark.parametrize(
    "change",
    [lambda data: data["steps"][0].update(task="email.welcome"),  # both task and event
     lambda data: data["steps"][0].pop("event"),  # neither
     lambda data: data["steps"][0].update(delay="1s"),  # a task key on an event step
     lambda data: data["steps"][1].update(headers={}),  # an event key on a task step
     lambda data: data["steps"][0].update(priority=256),
     lambda data: data["steps"][1].update(priority=3),
     lambda data: data["steps"][1].update(delay="5 minutes"),
     lambda data: data["steps"][1]["retry"].update(attempts=0),
     lambda data: data["steps"][1]["retry"].update(backoff="linear"),
     lambda data: data["input"].update(email="emial"),
     lambda data: data["input"].update({"Bad-Name": "str"}),
     lambda data: data.update(nmae="x"),
     lambda data: data.update(steps=[])],
)
def test_the_schema_rejects_what_the_loader_rejects(validator: Draft7Validator, change: Any) -> None:
    data = example()
    change(data)
    assert list(validator.iter_errors(data))


@settings(max_examples=300)
@given(st.text(alphabet="0123456789.mshdw x\t", max_size=10))
def test_the_duration_pattern_accepts_what_parse_duration_accepts(text: str) -> None:
    try:
        parse_duration(text)
        well_formed = True
    except ValueError as error:
        # A pattern cannot bound the magnitude ("143000000w" is past timedelta's range): the loader says so
        well_formed = "too long a duration" in str(error)
    assert (re.fullmatch(DURATION_PATTERN, text) is not None) == well_formed
