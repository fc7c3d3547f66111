"""Per-client rate limits on registration and login: 429 with Retry-After, in memory and through Redis."""

import asyncio
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient
from redis import Redis

from app.api.app import create_app
from app.api.ratelimit import RedisLimiter
from app.bootstrap import build
from app.config import Settings
from app.durations import Rate
from tests.integration.accounts import PASSWORD, new_user
from tests.integration.served import serving
from tests.servers import REDIS_URL, RUN_ID, closed_port, require


@pytest.mark.parametrize(("path", "setting"), [("/api/users", "REGISTER"), ("/api/sessions", "LOGIN")])
def test_the_limit_answers_429_with_retry_after(make_settings: Callable[..., Settings], path: str,
                                                setting: str) -> None:
    # Given a limit of 3 an hour on the endpoint (an hour: the fixed window must not roll over mid-test)
    container = build(make_settings(**{f"FLOWPLANE_AUTH__{setting}_RATE_LIMIT": "3/hour"}))
    with TestClient(create_app(container)) as client:
        body = new_user() if setting == "REGISTER" else {"email": "x@example.com", "password": PASSWORD}
        # When one client makes a fourth request within the hour
        statuses = [client.post(path, json={**body, "email": f"{i}{body['email']}"}).status_code
                    for i in range(4)]
        # Then the first three are handled and the fourth is refused with a usable Retry-After
        assert 429 not in statuses[:3]
        assert statuses[3] == 429
        refused = client.post(path, json=body)
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 3600
        assert refused.json()["title"] == "Too Many Requests"
        # And the other endpoint keeps its own allowance
        other = "/api/sessions" if setting == "REGISTER" else "/api/users"
        assert client.post(other, json={}).status_code == 422
    container.close()


def test_redis_limiter_is_shared_by_replicas() -> None:
    require("redis")
    prefix = f"fp-test-{RUN_ID}-{uuid.uuid4().hex[:6]}:"
    rate = Rate(5, timedelta(hours=1))  # an hour: the window must not roll over mid-test

    async def scenario() -> list[Any]:
        replicas = [RedisLimiter(REDIS_URL, prefix), RedisLimiter(REDIS_URL, prefix)]
        decisions = [await replicas[i % 2].hit("login:198.51.100.7", rate) for i in range(7)]
        elsewhere = await replicas[0].hit("login:203.0.113.9", rate)
        for limiter in replicas:
            await limiter.close()
        return [*decisions, elsewhere]

    decisions = asyncio.run(scenario())
    try:
        assert [d.allowed for d in decisions[:7]] == [True] * 5 + [False] * 2
        assert all(1 <= d.retry_after <= 3600 for d in decisions[5:7])
        assert decisions[7].allowed
    finally:
        client = Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(f"{prefix}*"))
        assert keys and all(0 < client.ttl(key) <= 3601 for key in keys)
        client.delete(*keys)
        client.close()


def test_while_redis_is_down_each_replica_limits_on_its_own() -> None:
    async def scenario() -> list[bool]:
        limiter = RedisLimiter(f"redis://127.0.0.1:{closed_port()}/0", "fp-test:")
        decisions = [await limiter.hit("login:x", Rate(1, timedelta(hours=1))) for _ in range(2)]
        await limiter.close()
        return [decision.allowed for decision in decisions]

    assert asyncio.run(scenario()) == [True, False]  # let through, then limited in memory: never unlimited


def test_one_client_has_one_budget_however_its_address_is_spelt(make_settings: Callable[..., Settings]) -> None:
    # Given a login limit of 2 an hour, and the API behind a trusted proxy (127.0.0.1, the default)
    container = build(make_settings(FLOWPLANE_AUTH__LOGIN_RATE_LIMIT="2/hour"))
    body = {"email": "nobody@example.com", "password": PASSWORD}
    try:
        with serving(container) as url, httpx.Client(base_url=url) as http:
            def login(address: str) -> int:
                return http.post("/api/sessions", json=body, headers={"X-Forwarded-For": address}).status_code

            # When one client comes back under another spelling of its address, the budget is the same
            for spellings in (["2001:DB8::7", "2001:0db8::7", "2001:db8:0:0::7"], ["::ffff:192.0.2.4", "192.0.2.4",
                              "::FFFF:192.0.2.4"], ["2001:db8:1::1", "2001:db8:1::2", "2001:db8:1:0:ffff::9"]):
                assert [login(address) for address in spellings] == [401, 401, 429], spellings
            # And another /64, or another IPv4 address, has a budget of its own
            assert login("2001:db8:2::7") == 401 and login("192.0.2.5") == 401
    finally:
        container.close()
