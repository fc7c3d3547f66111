import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.plane.envelope import Envelope
from app.plane.tasks.policy import Priority, RetryPolicy, TaskOptions

seconds = st.floats(min_value=0, max_value=3600, allow_nan=False)


@st.composite
def policies(draw: st.DrawFn) -> RetryPolicy:
    first = draw(seconds)
    cap = draw(st.floats(min_value=first, max_value=86400, allow_nan=False))
    return RetryPolicy(attempts=draw(st.integers(1, 50)), backoff=draw(st.sampled_from(["exponential", "fixed"])),
                       first=timedelta(seconds=first), max=timedelta(seconds=cap),
                       jitter=draw(st.sampled_from(["full", "none"])))


@given(policy=policies(), attempt=st.integers(1, 10_000), seed=st.integers())
def test_a_delay_never_exceeds_its_ceiling_nor_the_cap(policy: RetryPolicy, attempt: int, seed: int) -> None:
    delay = policy.delay(attempt, random.Random(seed))
    assert timedelta(0) <= delay <= policy.ceiling(attempt) <= max(policy.max, policy.first)
    if policy.jitter == "none":
        assert delay == policy.ceiling(attempt)


@given(policy=policies(), attempt=st.integers(1, 60))
def test_exponential_ceilings_double_until_the_cap(policy: RetryPolicy, attempt: int) -> None:
    if policy.backoff == "fixed":
        assert policy.ceiling(attempt) == policy.first
        return
    expected = min(policy.first.total_seconds() * 2 ** (attempt - 1), policy.max.total_seconds())
    assert policy.ceiling(attempt).total_seconds() == pytest.approx(expected, rel=1e-9, abs=1e-6)
    assert policy.ceiling(attempt + 1) >= policy.ceiling(attempt)


@given(seed=st.integers())
def test_full_jitter_spreads_over_the_whole_range(seed: int) -> None:
    policy = RetryPolicy(first=timedelta(seconds=1), max=timedelta(seconds=60))
    rng = random.Random(seed)
    samples = [policy.delay(4, rng).total_seconds() for _ in range(400)]
    assert min(samples) < 1.0 and max(samples) > 7.0  # ceiling 8 s


def test_invalid_policies_are_refused() -> None:
    with pytest.raises(ValueError, match="at least once"):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError, match="first <= max"):
        RetryPolicy(first=timedelta(seconds=10), max=timedelta(seconds=1))


@given(payload=st.dictionaries(st.text(), st.none() | st.booleans() | st.integers() | st.text()),
       attempt=st.integers(1, 100), policy=policies(), priority=st.sampled_from(list(Priority)))
def test_envelope_and_options_round_trip(payload: dict, attempt: int, policy: RetryPolicy, priority: Priority) -> None:
    envelope = Envelope(kind="task", type="x.y", payload=payload, attempt=attempt, correlation_id="c")
    assert Envelope.from_json(envelope.to_json()) == envelope
    options = TaskOptions(queue="q", priority=priority, retry=policy, timeout=timedelta(seconds=3),
                          eta=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert TaskOptions.from_json(options.to_json()) == options


def test_envelopes_ignore_fields_they_do_not_know_and_refuse_non_json() -> None:
    newer = Envelope(kind="event", type="a", payload={}).to_json()[:-1] + ',"added_later":1}'
    assert Envelope.from_json(newer).type == "a"
    with pytest.raises(ValueError, match="not plain JSON"):
        Envelope(kind="task", type="a", payload={"when": datetime.now(UTC)})


@pytest.mark.parametrize(("text", "priority"), [("high", Priority.HIGH), ("LOW", Priority.LOW), (5, Priority.MEDIUM)])
def test_priorities_parse(text: str | int, priority: Priority) -> None:
    assert Priority.parse(text) is priority


def test_envelopes_read_from_json_refuse_what_json_cannot_carry() -> None:
    text = Envelope(kind="task", type="a", payload={"x": 1}).to_json()
    with pytest.raises(ValueError, match="NaN is not JSON"):
        Envelope.from_json(text.replace('"x":1', '"x":NaN'))
    with pytest.raises(ValueError, match="payload of a is a JSON object"):
        Envelope.from_json(text.replace('{"x":1}', "[1]"))
    with pytest.raises(ValueError, match="envelope id"):
        Envelope.from_json(text.replace(f'"id":"{Envelope.from_json(text).id}"', '"id":"' + "x" * 65 + '"'))
