"""The acceptance run: a burst of 100 registrations while one server after another blackholes (open
and silent). 95 % of the answers arrive within 3 s and none later than 4 s (slack for a loaded CI
machine); nothing is lost (every registered user gets one welcome mail, one onboarding record and one
user.created applied by each consumer); nothing is doubled; every run finishes once the server is back."""

import email
import functools
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text

from app.availability import Unavailable
from app.bootstrap import build
from app.config import load_settings
from tests.e2e.processes import poll
from tests.integration.faults.conftest import Stack, register

BURST = 100
CLIENTS = 4
ANSWER_BUDGET = 3.0  # seconds: the promise, for 95 % of the answers and, on a quiet machine, for all of them
# The designed worst case is 2.5 s (a 0.5 s ping of an idle connection, then libpq's 2 s minimum connect); a
# quiet run's slowest answer is ~2.2 s. The suite runs 4 workers on 2 cores, where the scheduler has delayed
# one answer to 3.3 s: every answer gets this much more, and no answer may come later than that.
LOADED_MACHINE_SLACK = 1.0  # seconds
FAULT_FROM, FAULT_UNTIL = 20, 70  # the server is silent from the 20th answer until the 70th (at least 3 s)


@pytest.mark.timeout(240)  # a stuck task is given up a lease after its 30 s timeout, then runs again
@pytest.mark.parametrize("server", ["postgresql", "redis", "rabbitmq"])
def test_a_burst_of_registrations_through_a_blackhole(stack: Stack, server: str) -> None:
    stack.start_all()
    proxy = stack.proxies[server]
    answered = threading.Condition()
    answers: list[tuple[int, float]] = []

    def one(number: int) -> None:
        response, took = register(stack, number, timeout=30)
        with answered:
            answers.append((response.status_code, took))
            answered.notify_all()

    # When 4 clients register 100 users while the server goes silent for a stretch of the burst
    with ThreadPoolExecutor(CLIENTS) as clients:
        futures = [clients.submit(one, number) for number in range(BURST)]
        with answered:
            answered.wait_for(lambda: len(answers) >= FAULT_FROM, timeout=120)
        proxy.blackhole()
        with answered:
            answered.wait_for(lambda: len(answers) >= FAULT_UNTIL, timeout=120)
        threading.Event().wait(max(0.0, 3.0))  # the outage lasts at least 3 s, even if the burst ran ahead
        proxy.forward()
        for future in futures:
            future.result()
    # Then every answer came within the budget, and only a silent database refused anyone (503, retry later)
    times = sorted(took for _, took in answers)
    print(f"\n{server} blackholed: {Counter(status for status, _ in answers)}, answers p50 {times[len(times) // 2]:.3f}"
          f" s, p95 {times[int(len(times) * 0.95)]:.3f} s, max {times[-1]:.3f} s")  # figures for the record (-s)
    assert times[int(len(times) * 0.95)] < ANSWER_BUDGET, f"p95 {times[int(len(times) * 0.95)]:.3f} s"
    slow = [took for _, took in answers if took >= ANSWER_BUDGET + LOADED_MACHINE_SLACK]
    assert not slow, f"{len(slow)} answer(s) took {ANSWER_BUDGET + LOADED_MACHINE_SLACK} s or more: {sorted(slow)[-5:]}"
    statuses = Counter(status for status, _ in answers)
    assert set(statuses) <= ({201, 503} if server == "postgresql" else {201}), statuses
    assert statuses[201] >= FAULT_FROM
    # And once the server is back, every registered user's run reaches its wait for verification; each user
    # verifies (as the mail's link would publish it), and every run finishes: one mail, one onboarding, and
    # user.created applied once by each consumer
    container = build(load_settings(environ=stack.env))
    try:
        def parked() -> list[tuple[str, str]] | None:
            with container.engine.connect() as db:
                users = db.execute(text("SELECT id, email FROM users")).all()
                waiting = db.execute(text("SELECT count(*) FROM step_runs WHERE step_id = 'await_verification' "
                                          "AND awaiting IS NOT NULL")).scalar_one()
            return [(str(user_id), email) for user_id, email in users] if waiting == len(users) else None

        def verified(user_id: str, user_email: str) -> bool | None:
            try:  # as the link's page would: a server that failed moments ago is tried again after its backoff
                container.plane.publish("user.email_verified", {"user_id": user_id, "email": user_email,
                                                                "verified_at": "2026-12-02T12:00:00+00:00"})
            except Unavailable:
                return None
            return True

        for user_id, user_email in poll(parked, timeout=120, what="every run to wait for its verification"):
            poll(functools.partial(verified, user_id, user_email), timeout=30,
                 what=f"{user_email}'s verification published")

        def settled() -> tuple[list[str], int, dict[str, int]] | None:
            with container.engine.connect() as db:
                users = db.execute(text("SELECT email FROM users")).scalars().all()
                unfinished = db.execute(text("SELECT count(*) FROM workflow_runs WHERE status <> 'succeeded'"))
                runs = db.execute(text("SELECT count(*) FROM workflow_runs")).scalar_one()
                onboarded = db.execute(text("SELECT count(*) FROM onboardings")).scalar_one()
                applied = {consumer: count for consumer, count in db.execute(text(
                    "SELECT c.consumer, count(*) FROM consumed_messages c JOIN audit_log a "
                    "ON a.message_id = c.message_id WHERE a.event_type = 'user.created' GROUP BY c.consumer"))}
                if unfinished.scalar_one() or runs != len(users) or onboarded != len(users):
                    return None
            if len(stack.inbox.raw) < len(users) or any(count < len(users) for count in applied.values()):
                return None
            return list(users), onboarded, applied

        users, _, applied = poll(settled, timeout=120, what="every run to finish and every effect to land")
        assert len(users) >= statuses[201]  # a 503 may still have committed (its answer was lost, not its data)
        assert applied == {"analytics": len(users), "audit": len(users), "crm": len(users)}
        mails = [email.message_from_bytes(raw) for raw in stack.inbox.raw]
        per_user = Counter(str(mail["To"]) for mail in mails)
        assert per_user == Counter(users), "every user gets exactly one welcome mail"
        assert len({str(mail["Message-ID"]) for mail in mails}) == len(users)
    finally:
        container.close()
