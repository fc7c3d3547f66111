"""Verification tokens: what :func:`parse` accepts is exactly what :func:`new_token` makes."""

import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain import verification
from app.domain.verification import MalformedToken

URL_SAFE = string.ascii_letters + string.digits + "-_"
tokens = st.builds(lambda _: verification.new_token(), st.integers())
well_shaped = st.text(URL_SAFE, min_size=43, max_size=43).map(lambda body: verification.PREFIX + body)


@given(tokens)
def test_every_new_token_parses_as_itself_and_carries_256_bits(token: str) -> None:
    assert verification.parse(token) == token
    assert len(token) == len(verification.PREFIX) + 43  # 43 base64 characters: 258 bits of which 256 random
    assert re.fullmatch(r"[0-9a-f]{64}", verification.digest(token))


def test_tokens_are_not_repeated() -> None:
    assert len({verification.new_token() for _ in range(1000)}) == 1000


@given(well_shaped, st.sampled_from(["", " ", "\n", "\t "]))
def test_blanks_around_a_token_are_ignored(token: str, blank: str) -> None:
    assert verification.parse(blank + token + blank) == token


@given(st.text(max_size=120))
def test_anything_else_is_malformed_and_only_that(text: str) -> None:
    try:
        parsed = verification.parse(text)
    except MalformedToken as exc:
        assert exc.problems.keys() == {"token"}
        return
    assert parsed == text.strip() and parsed.startswith(verification.PREFIX)


@given(well_shaped, st.integers(0, 46), st.characters(blacklist_characters=URL_SAFE))
def test_one_character_outside_the_alphabet_is_malformed(token: str, position: int, bad: str) -> None:
    with pytest.raises(MalformedToken):
        verification.parse(token[:position] + bad + token[position + 1:])


@pytest.mark.parametrize("text", ["", "fpv_", "fp_" + "A" * 43, "fpv_" + "A" * 42, "fpv_" + "A" * 44,
                                  "FPV_" + "A" * 43, "fpv_" + "A" * 42 + "=", "fpv_" + "A" * 42 + "\u0661",
                                  "fpv_" + "A" * 43 + "\n" + "B"])
def test_near_misses_are_malformed(text: str) -> None:
    with pytest.raises(MalformedToken):
        verification.parse(text)
