"""A server that stops answering stalls nothing: registration and /ready answer within their budgets
whichever server blackholes (open and silent) or refuses, and everything the outage held back is
delivered once it is over."""

import httpx
import pytest

from tests.e2e.processes import poll
from tests.integration.faults.conftest import Stack, register, timed

REGISTRATION_BUDGET = 2.5  # seconds: "registration answers within ~2 s whichever server is gone"
READY_BUDGET = 2.0
CHECK = {"postgresql": "database", "redis": "redis", "rabbitmq": "rabbitmq"}  # /ready's names


@pytest.mark.parametrize("server", ["postgresql", "redis", "rabbitmq"])
def test_a_blackholed_server_stalls_neither_registration_nor_readiness(stack: Stack, server: str) -> None:
    stack.start_all()
    first, _ = register(stack, 0)
    assert first.status_code == 201, first.text  # every connection is open and warm
    with stack.proxies[server].fault("blackhole"):
        answers = [register(stack, number) for number in range(1, 6)]
        ready, took = timed(lambda: httpx.get(f"{stack.base_url}/ready", timeout=30))
        assert took < READY_BUDGET, (took, ready.text)
        assert ready.status_code == 503 and ready.json()["checks"][CHECK[server]] != "ok", ready.text
        # Then every registration answered within the budget: refused with 503 and Retry-After when the
        # database is silent, accepted otherwise (the outbox keeps the mail and the event)
        assert all(took < REGISTRATION_BUDGET for _, took in answers), [took for _, took in answers]
        if server == "postgresql":
            assert all(response.status_code == 503 and response.headers.get("retry-after")
                       for response, _ in answers), [response.text for response, _ in answers]
        else:
            assert all(response.status_code == 201 for response, _ in answers), [r.text for r, _ in answers]
    # When the server is back, everything held back is delivered: one mail per registered user
    registered = 1 + (0 if server == "postgresql" else 5)
    poll(lambda: len(stack.inbox.recipients()) >= registered or None, timeout=60, what="the welcome mails")
    assert sorted(stack.inbox.recipients()) == sorted(f"user{n}@example.com" for n in range(registered))
    poll(lambda: httpx.get(f"{stack.base_url}/ready", timeout=5).status_code == 200 or None, timeout=30,
         what="readiness after the fault")


def test_registration_while_postgresql_refuses_is_503_with_retry_after(stack: Stack) -> None:
    stack.start("api", "api")
    with stack.proxies["postgresql"].fault("refuse"):
        response, took = register(stack, 1)
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert int(response.headers["retry-after"]) >= 1
    assert took < REGISTRATION_BUDGET
    assert register(stack, 2)[0].status_code in (201, 503)  # at most the rest of the backoff
    poll(lambda: register(stack, 3)[0].status_code == 201 or None, timeout=10, what="registration after it")


def test_the_dashboard_while_postgresql_refuses_is_a_503_page(stack: Stack) -> None:
    stack.start("api", "api")
    with stack.proxies["postgresql"].fault("refuse"):
        page = httpx.get(f"{stack.base_url}/dashboard/", cookies={"flowplane_dashboard": "a-session-to-look-up"},
                         timeout=10)
    assert page.status_code == 503, page.text
    assert "text/html" in page.headers["content-type"] and int(page.headers["retry-after"]) >= 1
    assert "database is unavailable" in page.text
