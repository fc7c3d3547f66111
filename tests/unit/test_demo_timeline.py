"""The demo's timeline: where each step ran, and nowhere for a step that never ran."""

from typing import Any

from app.cli.demo import timeline

T0, T1, T2 = "2026-12-02T12:00:00+00:00", "2026-12-02T12:00:01+00:00", "2026-12-02T12:00:03+00:00"


def _step(step_id: str, kind: str, target: str, status: str, **times: str | None) -> dict[str, Any]:
    return {"id": step_id, "kind": kind, "target": target, "status": status, "worker": times.pop("worker", None),
            "attempts": 0, "ready_at": times.get("ready_at"), "started_at": times.get("started_at"),
            "finished_at": times.get("finished_at")}


def test_a_wait_that_ran_was_parked_and_one_that_was_skipped_went_nowhere() -> None:
    run = {"id": "r1", "workflow": "w", "status": "succeeded", "created_at": T0, "finished_at": T2, "steps": [
        _step("mail", "task", "email.welcome", "succeeded", worker="host:1", started_at=T0, finished_at=T1),
        _step("verified", "wait_for", "user.email_verified", "succeeded", ready_at=T1, finished_at=T2),
        _step("again", "wait_for", "user.email_verified", "skipped"),
        _step("expired", "event", "user.expired", "skipped"),
    ]}
    lines = {line.split()[0]: line for line in timeline(run)[2:]}
    assert "host:1" in lines["mail"] and "1000 ms" in lines["mail"]
    assert "parked: no process" in lines["verified"] and "2000 ms" in lines["verified"]  # parked for 2 s
    for skipped in ("again", "expired"):
        assert "parked" not in lines[skipped] and "event plane" not in lines[skipped]
        assert lines[skipped].split()[3] == "-"


def test_queued_counts_from_ready_to_started_and_only_task_steps_show_attempts() -> None:
    mail = _step("mail", "task", "email.welcome", "succeeded", worker="host:1", ready_at=T1, started_at=T2,
                 finished_at=T2)
    mail["attempts"] = 2
    run = {"id": "r1", "workflow": "w", "status": "succeeded", "created_at": T0, "finished_at": T2, "steps": [
        mail, _step("announce", "event", "user.created", "succeeded", ready_at=T0, finished_at=T0)]}
    header, *steps = timeline(run)[1:]
    assert header.split()[3:] == ["ready", "at", "queued", "took", "status"]
    lines = {line.split()[0]: line for line in steps}
    # ready 1 s after the run started, queued 2 s until a worker took it (not 3 s since the run started)
    assert lines["mail"].split()[4:10] == ["1000", "ms", "2000", "ms", "0", "ms"]
    assert lines["mail"].endswith("succeeded (attempts: 2)")
    assert lines["announce"].endswith("succeeded") and "attempts" not in lines["announce"]
