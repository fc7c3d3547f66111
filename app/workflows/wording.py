"""A simulated run in words, a line per move: what the command line prints and the playground shows."""

import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from app.workflows.simulated import Entry


def timeline_line(entry: Entry) -> str:
    attempt = f"#{entry.attempt}" if entry.attempt else ""
    return f"{'+' + span(entry.at):>14}  {entry.step or '':<24}{attempt:>3}  {entry.what:<9}  {describe(entry)}"


def describe(entry: Entry) -> str:
    detail: Mapping[str, Any] = entry.detail
    if entry.what == "published":
        headers = f" headers {_compact(detail['headers'])}" if detail.get("headers") else ""
        return f"{detail['event']} {_compact(detail['payload'])}{headers}"
    if entry.what == "enqueued":
        runs_in = f", runs in {span(timedelta(seconds=detail['runs_in']))}" if "runs_in" in detail else ""
        return (f"{detail['task']} ({detail['priority']}, up to {detail['attempts']} attempt(s){runs_in}) "
                f"{_compact(detail['payload'])}")
    if entry.what == "retrying":
        return f"{detail['error']}; again in at most {span(timedelta(seconds=detail['next_in']))}"
    if entry.what == "waiting":
        parts = [f"for {detail['event']}"] if "event" in detail else []
        if "until" in detail:
            parts.append(f"until +{span(timedelta(seconds=detail['until']))}")
        return " ".join(parts)
    if entry.what == "arrived":
        return f"{detail['event']} {_compact(detail['payload'])}"
    if "output" in detail:
        return f"output {_compact(detail['output'])}"
    if "error" in detail:
        return str(detail["error"])
    return " ".join(f"{key} {value}" for key, value in detail.items())


def span(value: timedelta) -> str:
    """3d 4h 5m 6s, 250ms, 0s."""
    milliseconds = round(value.total_seconds() * 1000)
    parts = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        amount, milliseconds = divmod(milliseconds, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return " ".join(parts) or "0s"


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(", ", ": "), ensure_ascii=False, default=str)
