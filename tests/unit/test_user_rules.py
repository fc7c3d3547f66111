import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.users import check_name, check_new_email, check_new_user, check_password, normalise_email


@given(st.emails())
def test_email_normalisation_is_idempotent_and_case_insensitive(email: str) -> None:
    try:
        normal = normalise_email(email)
    except ValueError:
        return  # hypothesis' emails include some that email-validator rightly refuses
    assert normal == normal.lower()
    assert normalise_email(normal) == normal
    assert normalise_email(email.upper()) == normal


@given(st.text())
def test_any_text_is_an_email_or_a_value_error(text: str) -> None:
    try:
        normal = normalise_email(text)
    except ValueError as exc:
        assert str(exc)
    else:
        assert "@" in normal and normal.encode()


@pytest.mark.parametrize("password", ["\ud800" * 12, "x" * 9, "x" * 129])
def test_unusable_passwords(password: str) -> None:
    with pytest.raises(ValueError):
        check_password(password)


def test_every_problem_is_reported_together() -> None:
    _, _, _, problems = check_new_user("nope", "", "short")
    assert set(problems) == {"email", "name", "password"}
    email, name, _, problems = check_new_user(" Ada@Example.com ", " Ada ", "ada@example.com")
    assert (email, name, problems) == ("ada@example.com", "Ada", {"password": "must not be the email address"})


def test_a_name_with_any_line_break_python_knows_is_refused() -> None:
    # Every character str.splitlines breaks on (CR, LF, VT, FF, FS, GS, RS, NEL, U+2028, U+2029): mail, logs and
    # CSV readers split on them too
    breaks = [char for char in map(chr, range(0x110000)) if len(f"a{char}b".splitlines()) > 1]
    assert {"\u2028", "\u2029", "\x85", "\x0b", "\x1c"} <= set(breaks)
    for char in breaks:
        with pytest.raises(ValueError):
            check_name(f"Ada{char}Lovelace")


@pytest.mark.parametrize("name", [
    "=?utf-8?q?=0D=0AReply-To:_attacker@evil.example?=",
    "Ada =?UTF-8?B?QWRh?= Lovelace",
    "=?x?=",
    "a=?b?=c",
])
def test_a_name_with_encoded_word_syntax_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="encoded"):
        check_name(name)


@pytest.mark.parametrize("name", ["Who?", "a=b", "x =? y", "Ada ?= Lovelace", "Zoë O'Brien-Smith", "李小龍"])
def test_names_with_question_marks_and_equals_signs_alone_are_fine(name: str) -> None:
    assert check_name(name) == name


def test_a_new_address_with_encoded_word_syntax_is_refused() -> None:
    # email-validator accepts it (= and ? are atext), and a mail parser would decode it in a To: header
    address = "=?utf-8?q?eve=40evil.example_?=@example.com"
    with pytest.raises(ValueError, match="encoded"):
        check_new_email(address)
    assert normalise_email(address) == address  # one registered before this rule can still log in


@given(st.text(max_size=300))
def test_an_accepted_name_is_one_line_without_encoded_words(text: str) -> None:
    try:
        name = check_name(text)
    except ValueError:
        return
    assert name.splitlines() == [name]
    assert re.search(r"=\?.*\?=", name, flags=re.DOTALL) is None
