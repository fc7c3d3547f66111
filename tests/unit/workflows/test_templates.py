from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.workflows import templates
from app.workflows.templates import TemplateError

CONTEXT = {
    "input": {"user_id": "u-1", "count": 3, "ratio": 0.5, "flag": False, "nothing": None,
              "data": {"plan": "pro", "tags": ["a", "b"]}},
    "steps": {"send": {"status": "succeeded", "output": {"message_id": 42}}},
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [("{{ input.count }}", 3), ("{{input.ratio}}", 0.5), ("{{ input.flag }}", False),
     ("{{ input.data }}", {"plan": "pro", "tags": ["a", "b"]}), ("{{ input.data.tags }}", ["a", "b"]),
     ("{{ steps.send.output.message_id }}", 42), ("{{ steps.send.status }}", "succeeded")],
)
def test_a_string_that_is_one_placeholder_keeps_the_values_type(template: str, expected: Any) -> None:
    assert templates.compile(template).render(CONTEXT) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [("welcome:{{ input.user_id }}", "welcome:u-1"), ("{{ input.count }}/{{ input.ratio }}", "3/0.5"),
     ("x{{ input.nothing }}y", "xy"), ("x{{ input.missing }}y", "xy"), ("{{ input.data.plan }}!", "pro!"),
     (" {{ input.count }} ", " 3 "), ("no placeholders", "no placeholders"),
     ("single { braces } stay", "single { braces } stay")],
)
def test_placeholders_inside_text_render_as_text(template: str, expected: str) -> None:
    assert templates.compile(template).render(CONTEXT) == expected


def test_a_missing_path_renders_null_as_a_whole_value() -> None:
    assert templates.compile("{{ steps.other.output.id }}").render(CONTEXT) is None
    assert templates.compile("{{ input.count.deeper }}").render(CONTEXT) is None


def test_tables_and_arrays_render_each_string_and_keep_other_values() -> None:
    template = templates.compile({"id": "{{ input.user_id }}", "n": 5, "on": True,
                                  "items": ["{{ input.count }}", "#{{ input.count }}", {"deep": "{{ input.flag }}"}]})
    assert template.render(CONTEXT) == {"id": "u-1", "n": 5, "on": True, "items": [3, "#3", {"deep": False}]}
    assert template.references() == {("input", "user_id"), ("input", "count"), ("input", "flag")}


def test_rendering_never_evaluates_what_it_looks_up() -> None:
    context = {"input": {"text": "{{ input.secret }}", "code": "__import__('os').system('true')", "secret": "s"}}
    assert templates.compile("{{ input.text }}").render(context) == "{{ input.secret }}"
    assert templates.compile("[{{ input.code }}]").render(context) == "[__import__('os').system('true')]"


def test_a_rendered_table_is_a_copy() -> None:
    rendered = templates.compile("{{ input.data }}").render(CONTEXT)
    rendered["plan"] = "changed"
    assert CONTEXT["input"]["data"]["plan"] == "pro"  # type: ignore[index]


@pytest.mark.parametrize(
    ("template", "column", "words"),
    [("{{ input.a", 1, "not closed"), ("ab{{ }}", 3, "empty"), ("{{ input..a }}", 4, "dotted path"),
     ("x {{ input.a + 1 }}", 6, "dotted path"), ("{{ 1abc }}", 4, "dotted path"), ("{{{ input.a }}", 3, "dotted path")],
)
def test_malformed_placeholders_are_errors_with_their_column(template: str, column: int, words: str) -> None:
    with pytest.raises(TemplateError, match=words) as raised:
        templates.compile(template)
    assert raised.value.column == column


def test_an_error_in_a_table_says_where_in_it() -> None:
    with pytest.raises(TemplateError) as raised:
        templates.compile({"a": "ok", "b": ["fine", {"c": "{{ oops"}]})
    assert raised.value.where == ("b", 1, "c")


def test_templates_compare_by_their_source() -> None:
    assert templates.compile({"a": "{{ input.x }}"}) == templates.compile({"a": "{{ input.x }}"})
    assert templates.compile("{{ input.x }}") != templates.compile("{{ input.y }}")


identifiers = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(identifiers, inner, max_size=3),
                           max_leaves=8)


@settings(max_examples=150)
@given(path=st.lists(identifiers, min_size=1, max_size=4), value=json_values)
def test_a_whole_placeholder_renders_exactly_the_value_at_its_path(path: list[str], value: Any) -> None:
    context: dict[str, Any] = {"input": {}}
    current = context["input"]
    for part in path[:-1]:
        current = current.setdefault(part, {})
    current[path[-1]] = value
    template = templates.compile("{{ input." + ".".join(path) + " }}")
    assert template.render(context) == value
    assert template.references() == {("input", *path)}


@settings(max_examples=300)
@given(st.text(alphabet=st.sampled_from(list("{} .ab_1x\\'\"")) | st.characters(), max_size=40))
def test_any_text_compiles_or_raises_a_template_error(text: str) -> None:
    try:
        template = templates.compile(text)
    except TemplateError as error:
        assert 1 <= error.column <= len(text)
        return
    rendered = template.render(CONTEXT)
    if "{{" not in text:
        assert rendered == text
