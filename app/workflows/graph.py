"""The steps as a graph: who waits for whom (``after``), who compensates whom (``on_failure``), what each
step may read. Built from the parsed file as it is, so it also works when other keys are wrong."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from app.workflows.problems import STEP_ID
from app.workflows.spec import CONTINUE, FAIL_RUN


@dataclass(frozen=True)
class RawStep:
    """A step table as written, with the parts the graph needs where they have the right type."""

    index: int
    table: dict[str, Any]
    id: str | None  # None unless a string of the right spelling
    after: tuple[tuple[int, str], ...]  # (position in the list, step id) for each string entry
    on_failure: str | None


def raw_steps(data: Any) -> list[RawStep]:
    steps = data.get("steps") if isinstance(data, dict) else None
    found = []
    for index, table in enumerate(steps if isinstance(steps, list) else []):
        if not isinstance(table, dict):
            continue
        step_id = table.get("id")
        after = table.get("after")
        on_failure = table.get("on_failure")
        found.append(RawStep(
            index, table, step_id if isinstance(step_id, str) and STEP_ID.fullmatch(step_id) else None,
            tuple((position, name) for position, name in enumerate(after) if isinstance(name, str))
            if isinstance(after, list) else (),
            on_failure if isinstance(on_failure, str) else None))
    return found


@dataclass
class StepGraph:
    steps: list[RawStep]
    index: dict[str, int] = field(default_factory=dict)  # id -> index of the first step with it
    waits_for: dict[str, list[str]] = field(default_factory=dict)  # id -> other existing steps in its `after`
    upstream: dict[str, set[str]] = field(default_factory=dict)  # id -> every step it transitively waits for
    compensates: dict[str, list[str]] = field(default_factory=dict)  # compensation id -> steps naming it

    @classmethod
    def build(cls, data: Any) -> "StepGraph":
        graph = cls(raw_steps(data))
        for step in graph.steps:
            if step.id is not None:
                graph.index.setdefault(step.id, step.index)
        for step_id, step in graph.with_ids():
            waits = graph.waits_for.setdefault(step_id, [])
            waits.extend(name for _, name in step.after if name in graph.index and name != step_id)
            target = step.on_failure
            if target is not None and target not in (FAIL_RUN, CONTINUE, step_id) and target in graph.index:
                graph.compensates.setdefault(target, []).append(step_id)
        for step_id in graph.waits_for:
            graph.upstream[step_id] = graph._reach(step_id)
        return graph

    def with_ids(self) -> Iterator[tuple[str, RawStep]]:
        """Each step that has a usable id, with it; the first of any duplicates only."""
        return ((step.id, step) for step in self.steps if step.id is not None and self.index[step.id] == step.index)

    def _reach(self, start: str) -> set[str]:
        seen: set[str] = set()
        pending = list(self.waits_for.get(start, []))
        while pending:
            current = pending.pop()
            if current not in seen:
                seen.add(current)
                pending.extend(self.waits_for.get(current, []))
        return seen

    def readable(self, step_id: str) -> set[str]:
        """The steps whose output and status ``step_id`` may read: those it waits for and, for a
        compensation step, the steps whose failure starts it and what they wait for."""
        readable = set(self.upstream.get(step_id, set()))
        for source in self.compensates.get(step_id, []):
            readable |= {source} | self.upstream.get(source, set())
        return readable

    def cycles(self) -> list[list[str]]:
        """One cycle per group of steps waiting on each other, each from its step first in the file,
        following `after`: [a, b, c] means a waits for b, b for c, c for a."""
        in_cycle = {step_id for step_id, upstream in self.upstream.items() if step_id in upstream}
        found: list[list[str]] = []
        for start in sorted(in_cycle, key=self.index.__getitem__):
            if any(start in cycle for cycle in found):
                continue
            group = {other for other in in_cycle if other in self.upstream[start] and start in self.upstream[other]}
            found.append(self._path_back(start, group))
        return found

    def _path_back(self, start: str, group: set[str]) -> list[str]:
        """The shortest way from ``start`` through ``group`` back to ``start``."""
        came_from: dict[str, str] = {}
        frontier = [start]
        while frontier:
            following = []
            for current in frontier:
                for other in self.waits_for[current]:
                    if other == start:
                        path = [current]
                        while path[-1] != start:
                            path.append(came_from[path[-1]])
                        return path[::-1]
                    if other in group and other not in came_from:
                        came_from[other] = current
                        following.append(other)
            frontier = following
        return [start]  # not reached: every step of a group lies on a cycle through start
