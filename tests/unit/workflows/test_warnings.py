"""Semantic warnings: a step no run reaches, a wait for ever, an output a step never produces, retries outlasting
the wait after them; the shipped workflow has none, and only `validate --strict` fails on them."""

from pathlib import Path

from app.workflows.loader import load_text
from app.workflows.warnings import warnings
from tests.cli import invoke

ROOT = Path(__file__).resolve().parents[3]
TASKS = ["email.welcome"]
EVENTS = {"user.email_verified": frozenset({"user_id", "email", "verified_at"})}
WARNED = """name = "warned"

[input]
user_id = "str"

[[steps]]
id = "mail"
task = "email.welcome"
retry = { attempts = 10, first = "1m", max = "1h" }
payload = { email = "a@example.com", name = "A" }

[[steps]]
id = "nap"
wait = "1h"
after = ["mail"]

[[steps]]
id = "verified"
wait_for = "user.email_verified"
match = { user_id = "{{ input.user_id }}" }
after = ["nap"]

[[steps]]
id = "never"
task = "email.welcome"
after = ["nap", "verified"]
when = "steps.nap.output.timed_out == true"
payload = { email = "{{ steps.verified.output.payload }}", name = "B" }

[[steps]]
id = "either"
task = "email.welcome"
after = ["verified"]
when = "steps.verified.output.timed_out == false or steps.verified.status == 'skipped'"
payload = { email = "a@example.com", name = "C" }
"""


def test_each_kind_of_warning_is_located_and_a_reachable_step_is_not_flagged(tmp_path: Path) -> None:
    workflow = load_text(WARNED, "warned.toml", tasks=TASKS, events=EVENTS)
    lines = [str(problem) for problem in warnings(workflow, lambda step: None)]
    assert lines == [
        "warned.toml:19:1: steps.verified.wait_for: warning: no timeout: a run whose user.email_verified never comes "
        "waits for ever",
        "warned.toml:27:1: steps.never.when: warning: reads steps.nap.output.timed_out, which a wait step never "
        "produces (its output has due_at, woken)",
        "warned.toml:27:1: steps.never.when: warning: unreachable: its condition (steps.nap.output.timed_out == true) "
        "is false whatever the steps it reads can produce",
        "warned.toml:28:1: steps.never.payload: warning: reads steps.verified.output.payload, which a wait_for step "
        "never produces (its output has timed_out, event, woken)",
    ]
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "warned.toml").write_text(WARNED)
    ran = invoke(["workflows", "validate", "flows"], {}, tmp_path)
    assert ran.returncode == 0
    assert "steps.mail.retry: warning: its retries can take up to 4h 3m, longer than the 1h that nap waits after it" \
        in ran.stderr  # 1+2+4+8+16+32+60+60+60 minutes: the default policy's cap is the step's `max`
    assert "5 warning(s)" in ran.stderr
    assert invoke(["workflows", "validate", "--strict", "flows"], {}, tmp_path).returncode == 1


def test_the_shipped_workflow_has_no_warning(tmp_path: Path) -> None:
    ran = invoke(["workflows", "validate", "--strict", str(ROOT / "workflows")], {}, tmp_path)
    assert ran.returncode == 0 and "warning" not in ran.stderr, ran.stderr
