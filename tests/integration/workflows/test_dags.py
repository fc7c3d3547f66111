"""Random DAGs on real workers: every step runs exactly once, and only after all it waits for."""

import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.tasks.conftest import PlaneWorld
from tests.integration.workflows.conftest import finished_run, start, step_lines, write_workflow


@st.composite
def dags(draw: st.DrawFn) -> dict[str, list[str]]:
    count = draw(st.integers(1, 30))
    graph: dict[str, list[str]] = {}
    for index in range(count):
        before = draw(st.lists(st.integers(0, index - 1), max_size=3, unique=True)) if index else []
        graph[f"s{index}"] = [f"s{b}" for b in before]
    return graph


def as_toml(name: str, graph: dict[str, list[str]]) -> str:
    lines = [f'name = "{name}"', "", "[input]", 'log = "str"', ""]
    for step_id, after in reversed(graph.items()):  # file order unrelated to graph order
        lines += ["[[steps]]", f'id = "{step_id}"', 'task = "test.step"',
                  f"after = [{', '.join(repr(a).replace(chr(39), chr(34)) for a in after)}]",
                  'payload = { log = "{{ input.log }}", seconds = 0.01 }', ""]
    return "\n".join(lines)


@pytest.mark.parametrize("backend", ["redis"], indirect=True)
def test_random_dags_run_every_step_once_after_its_dependencies(world: PlaneWorld, tmp_path: Path,
                                                               database_url: str) -> None:
    directory = tmp_path / "flows"
    world.env |= {"FLOWPLANE_WORKFLOWS__DIRECTORY": str(directory), "FLOWPLANE_WORKFLOWS__RELOAD_INTERVAL": "0s",
                  "FLOWPLANE_DATABASE__URL": database_url}  # SQLite and PostgreSQL: joins locked either way
    world.start_worker(concurrency=2)
    world.start_worker(concurrency=2)

    @settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
    @given(dags())
    def check(graph: dict[str, list[str]]) -> None:
        name = f"dag_{uuid.uuid4().hex[:8]}"
        write_workflow(directory, name, as_toml(name, graph))
        container = world.container()  # reads the directory afresh (reload interval 0: once)
        log = tmp_path / f"{name}.log"
        run = finished_run(container, start(container, name, {"log": str(log)}), timeout=60)
        assert run["status"] == "succeeded", run
        lines = step_lines(log)
        assert sorted(line["step"] for line in lines) == sorted(graph)  # each exactly once
        ran = {line["step"]: line for line in lines}
        for step_id, after in graph.items():
            for before in after:
                assert ran[step_id]["start"] >= ran[before]["end"], (step_id, before)
        assert len({line["pid"] for line in lines}) >= 1

    check()
