"""What an edit changes in a workflow: steps and edges added and removed, each changed step field by field, and the
inputs. Read from the two files' tables as written, so a change is named as the developer wrote it. Pure."""

import json
import tomllib
from dataclasses import dataclass, field
from typing import Any

from app.workflows.spec import Workflow


@dataclass(frozen=True)
class Changes:
    old: str  # versions
    new: str
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: dict[str, tuple[tuple[str, Any, Any], ...]] = field(default_factory=dict)  # step -> (field, old, new)
    edges_added: tuple[tuple[str, str], ...] = ()  # (before, step)
    edges_removed: tuple[tuple[str, str], ...] = ()
    other: tuple[tuple[str, Any, Any], ...] = ()  # top-level keys: name, description, input.<name>

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.edges_added or self.edges_removed
                    or self.other)

    def lines(self) -> list[str]:
        out = [f"version {self.old[:12]} -> {self.new[:12]}"]
        if self.empty:
            return [*out, "  no change to steps, edges or inputs (only comments or layout)"]
        out += [f"  + step {step_id}" for step_id in self.added]
        out += [f"  - step {step_id}" for step_id in self.removed]
        for step_id, fields in self.changed.items():
            out += [f"  ~ step {step_id}: {name} {_show(old)} -> {_show(new)}" for name, old, new in fields]
        out += [f"  + edge {before} -> {step_id}" for before, step_id in self.edges_added]
        out += [f"  - edge {before} -> {step_id}" for before, step_id in self.edges_removed]
        out += [f"  ~ {name}: {_show(old)} -> {_show(new)}" for name, old, new in self.other]
        return out

    def as_json(self) -> dict[str, Any]:
        return {"old": self.old, "new": self.new, "added": list(self.added), "removed": list(self.removed),
                "changed": {step_id: [{"field": name, "old": old, "new": new} for name, old, new in fields]
                            for step_id, fields in self.changed.items()},
                "edges_added": [list(edge) for edge in self.edges_added],
                "edges_removed": [list(edge) for edge in self.edges_removed],
                "other": [{"field": name, "old": old, "new": new} for name, old, new in self.other]}


def compare(old: Workflow, new: Workflow) -> Changes:
    before, after = _tables(old), _tables(new)
    old_steps, new_steps = _steps(before), _steps(after)
    changed = {step_id: fields for step_id in old_steps if step_id in new_steps
               if (fields := _fields(old_steps[step_id], new_steps[step_id], skip={"id", "after"}))}
    old_edges, new_edges = _edges(old_steps), _edges(new_steps)
    other = _fields({key: value for key, value in before.items() if key not in ("steps", "input")},
                    {key: value for key, value in after.items() if key not in ("steps", "input")}, skip=set())
    other += tuple((f"input.{name}", old_value, new_value) for name, old_value, new_value
                   in _fields(before.get("input", {}), after.get("input", {}), skip=set()))
    return Changes(old.version, new.version,
                   added=tuple(step_id for step_id in new_steps if step_id not in old_steps),
                   removed=tuple(step_id for step_id in old_steps if step_id not in new_steps),
                   changed=changed,
                   edges_added=tuple(edge for edge in new_edges if edge not in old_edges),
                   edges_removed=tuple(edge for edge in old_edges if edge not in new_edges),
                   other=other)


def _tables(workflow: Workflow) -> dict[str, Any]:
    return tomllib.loads(workflow.source)  # it loaded once: it parses


def _steps(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["id"]: step for step in data.get("steps", [])}


def _edges(steps: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    return [(before, step_id) for step_id, step in steps.items() for before in step.get("after", [])]


def _fields(old: dict[str, Any], new: dict[str, Any], *, skip: set[str]) -> tuple[tuple[str, Any, Any], ...]:
    """(key, old, new) of each key that differs; None on the side that lacks it. Tables are compared key by key."""
    found: list[tuple[str, Any, Any]] = []
    for key in dict.fromkeys([*old, *new]):
        if key in skip or old.get(key) == new.get(key):
            continue
        if isinstance(old.get(key), dict) and isinstance(new.get(key), dict):
            found += [(f"{key}.{name}", was, now) for name, was, now in _fields(old[key], new[key], skip=set())]
        else:
            found.append((key, old.get(key), new.get(key)))
    return tuple(found)


def _show(value: Any) -> str:
    return "(none)" if value is None else json.dumps(value, default=str, ensure_ascii=False)
