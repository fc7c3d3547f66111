import contextlib
import re
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.workflows import expressions
from app.workflows.expressions import ConditionError, ExpressionSyntaxError

CONTEXT = {
    "input": {"plan": "pro", "seats": 12, "ratio": 0.25, "trial": False, "tags": ["a", "b"], "data": {"k": 1}},
    "steps": {"check": {"status": "succeeded", "output": {"score": 0.7, "message_id": "m-1"}}},
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("input.seats == 12", True), ("input.seats != 12", False), ("input.ratio < 0.5", True),
     ("input.seats >= 12 and input.seats <= 12", True), ("'pro' == input.plan", True),
     ('input.plan == "pro"', True), ("input.plan in ['pro', 'team']", True), ("input.plan not in ['pro']", False),
     ("'a' in input.tags", True), ("'ro' in input.plan", True), ("'k' in input.data", True),
     ("not input.trial", True), ("input.trial or input.seats > 10", True), ("steps.check.status == 'succeeded'", True),
     ("steps.check.output.score >= 0.5 and input.plan in ['pro', 'team'] and not input.trial", True),
     ("steps.check.output.message_id != null", True), ("input.missing == null", True), ("input.missing", False),
     ("input.tags", True), ("1 == 1.0", True), ("true == 1", False), ("-3 < 0", True), ("[1, [2]] == [1, [2]]", True),
     ("not not true", True), ("(true or false) and false", False), ("true or false and false", True),
     ("not 1 == 2", True), ("'it\\'s' == \"it's\"", True), ("[] == []", True), ("null", False), ("2.5e1 == 25", True)],
)
def test_conditions_evaluate_as_written(text: str, expected: bool) -> None:
    assert expressions.compile(text).evaluate(CONTEXT) is expected


def test_and_stops_early_so_a_missing_value_can_be_guarded() -> None:
    condition = expressions.compile("steps.other.output.n != null and steps.other.output.n > 3")
    assert condition.evaluate(CONTEXT) is False


@pytest.mark.parametrize(
    ("text", "words"),
    [("input.plan < 3", "cannot compare a string with a number using '<'"),
     ("input.missing > 3", "cannot compare null with a number"), ("true >= false", "two numbers or two strings"),
     ("1 in 5", "'in' needs a list"), ("1 in input.plan", "'in' needs a list"), ("'x' in null", "'in' needs")],
)
def test_incompatible_values_raise_a_condition_error(text: str, words: str) -> None:
    with pytest.raises(ConditionError, match=re.escape(words)):
        expressions.compile(text).evaluate(CONTEXT)


@pytest.mark.parametrize(
    ("text", "column", "words"),
    [("", 1, "expected a condition"), ("input.a ==", 11, "expected a value"), ("(input.a", 9, "expected ')'"),
     ("input.a = 1", 9, "unexpected character '='"), ("a == b == c", 8, "cannot be chained"),
     ("'open", 1, "not closed"), ("1 2", 3, "expected 'and', 'or'"), ("[1, 2", 6, "expected ',' or ']'"),
     ("input.a and", 12, "expected a value"), ("'\\q'", 2, "unknown escape"), ("- x", 3, "number after '-'"),
     ("input.", 6, "unexpected character '.'"), ("not in [1]", 5, "expected a value"),
     ("(" * 70 + "1" + ")" * 70, 65, "nested more than 64")],
)
def test_syntax_errors_carry_their_column(text: str, column: int, words: str) -> None:
    with pytest.raises(ExpressionSyntaxError, match=re.escape(words)) as raised:
        expressions.compile(text)
    assert raised.value.column == column


def test_references_are_every_path_used() -> None:
    condition = expressions.compile("steps.a.output.x > 1 or input.y in [input.z, 2] or steps.a.status == 'dead'")
    assert condition.references() == {("steps", "a", "output", "x"), ("input", "y"), ("input", "z"),
                                      ("steps", "a", "status")}
    assert condition.source.startswith("steps.a")


def test_a_long_chain_of_and_stays_shallow() -> None:
    condition = expressions.compile(" and ".join(["true"] * 5000))
    assert condition.evaluate({}) is True


# -- against Python itself: the same text, with Python's `and`, `or`, `not`, comparisons and `in` ------------
# Comparisons only ever join two values of one type here, where the language and Python agree.
ints = st.integers(-20, 20)
words = st.text(alphabet="abc", max_size=3)
int_terms = ints.map(str) | st.sampled_from(["input.a", "input.b", "steps.s.output.n"])
str_terms = words.map(lambda word: f"'{word}'") | st.sampled_from(["input.name", "steps.s.output.word"])
operators = st.sampled_from(["==", "!=", "<", "<=", ">", ">="])
memberships = st.sampled_from(["in", "not in"])


def _list(items: list[str]) -> str:
    return "[" + ", ".join(items) + "]"


comparisons = st.one_of(
    st.tuples(int_terms, operators, int_terms).map(" ".join),
    st.tuples(str_terms, operators, str_terms).map(" ".join),
    st.tuples(int_terms, memberships, st.lists(int_terms, max_size=4).map(_list)).map(" ".join),
    st.tuples(str_terms, memberships, str_terms).map(" ".join),
)
atoms = comparisons | st.sampled_from(["true", "false", "input.flag"])
conditions = st.recursive(
    atoms,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(" ".join),
        inner.map(lambda text: f"not {text}"),
        inner.map(lambda text: f"({text})"),
    ),
    max_leaves=12,
)


@settings(max_examples=250)
@given(text=conditions, a=ints, b=ints, n=ints, name=words, word=words, flag=st.booleans())
def test_conditions_agree_with_python_on_the_same_text(text: str, a: int, b: int, n: int, name: str, word: str,
                                                       flag: bool) -> None:
    context = {"input": {"a": a, "b": b, "name": name, "flag": flag},
               "steps": {"s": {"output": {"n": n, "word": word}, "status": "succeeded"}}}
    python_names = {"input": SimpleNamespace(**context["input"]),
                    "steps": SimpleNamespace(s=SimpleNamespace(output=SimpleNamespace(n=n, word=word))),
                    "true": True, "false": False, "null": None}
    expected = eval(text, {"__builtins__": {}}, python_names)  # noqa: S307  (the reference, in a test only)
    assert expressions.compile(text).evaluate(context) is bool(expected)


condition_alphabet = st.sampled_from(list("()[]'\"=!<>,-.0123456789 \\") + ["and ", "or ", "not ", "in ", "null",
                                                                                 "true", "input.", "steps.a.output"])


@settings(max_examples=300)
@given(st.lists(condition_alphabet, max_size=25).map("".join) | st.text(max_size=30))
def test_any_text_compiles_or_raises_a_syntax_error_and_never_anything_else(text: str) -> None:
    try:
        condition = expressions.compile(text)
    except ExpressionSyntaxError as error:
        assert 1 <= error.column <= len(text) + 1
        return
    with contextlib.suppress(ConditionError):
        assert isinstance(condition.evaluate(CONTEXT), bool)


def test_compiled_conditions_compare_by_source() -> None:
    assert expressions.compile("input.a == 1") == expressions.compile("input.a == 1")
    assert len({expressions.compile("true"), expressions.compile("true")}) == 1

