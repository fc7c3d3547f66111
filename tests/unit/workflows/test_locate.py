"""The locator places each key on its own line and column, whatever comments end the lines before it."""

from hypothesis import given
from hypothesis import strategies as st

from app.workflows.locate import Locator

_names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
_comments = st.one_of(st.just(""), st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=20)
                      .map(lambda text: f"   # {text}"))
_values = st.one_of(st.integers(-5, 5).map(str), st.just('"1s"'), st.just("{ a = 1, b = '#' }"),
                    st.just('["x", "y"]'))


@given(st.lists(st.tuples(_names, _values, _comments, st.integers(0, 3)), min_size=1, max_size=8,
                unique_by=lambda row: row[0]))
def test_every_key_is_found_where_it_is_written(rows: list[tuple[str, str, str, int]]) -> None:
    lines = ["[[steps]]"]
    expected: dict[str, tuple[int, int]] = {}
    for name, value, comment, indent in rows:
        lines.append(f"{' ' * indent}{name} = {value}{comment}")
        expected[name] = (len(lines), indent + 1)
    locator = Locator("\n".join(lines) + "\n")
    for name, position in expected.items():
        assert locator.find(("steps", 0, name)) == position


def test_a_comment_ending_the_line_before_does_not_hide_the_key() -> None:
    text = '[[steps]]\nid = "a"\ntask = "x"   # why\ndelay = "soon"\n'
    assert Locator(text).find(("steps", 0, "delay")) == (4, 1)
