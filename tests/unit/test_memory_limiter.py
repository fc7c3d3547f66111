import asyncio
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from app.api.ratelimit import MemoryLimiter
from app.durations import Rate


@given(limit=st.integers(1, 20), extra=st.integers(1, 5), now=st.floats(0, 2e9), period=st.integers(1, 86400))
def test_each_key_gets_exactly_its_allowance_per_window(limit: int, extra: int, now: float, period: int) -> None:
    async def scenario() -> tuple[list[bool], list[bool], list[bool]]:
        clock = [now]
        limiter, rate = MemoryLimiter(clock=lambda: clock[0]), Rate(limit, timedelta(seconds=period))
        first = [(await limiter.hit("login:a", rate)).allowed for _ in range(limit + extra)]
        second = [(await limiter.hit("login:b", rate)).allowed for _ in range(limit)]
        refused = await limiter.hit("login:a", rate)
        assert 1 <= refused.retry_after <= period
        clock[0] += refused.retry_after  # the window has turned
        after = [(await limiter.hit("login:a", rate)).allowed for _ in range(limit)]
        return first, second, after

    first, second, after = asyncio.run(scenario())
    assert first == [True] * limit + [False] * extra
    assert all(second)
    assert all(after)
