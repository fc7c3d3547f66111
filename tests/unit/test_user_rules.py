import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.users import check_new_user, check_password, normalise_email


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
