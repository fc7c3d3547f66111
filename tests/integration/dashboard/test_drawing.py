"""The pictures' arithmetic: chart bars, DAG columns and edges, timeline lanes (pure, no server)."""

from datetime import UTC, datetime, timedelta

from app.dashboard.charts import per_minute
from app.dashboard.dag_svg import GAP_X, NODE_W, PAD, layout
from app.dashboard.timeline import LABEL, PLOT, lay_out
from app.workflows.loader import load_text

START = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


# A fixed three-step workflow (the shape registration had before it waited for verification): the arithmetic
# below is about columns and edges, not about the shipped file.
THREE_STEPS = """name = "three"

[input]
user_id = "str"

[[steps]]
id = "announce"
event = "user.created"
payload = { user_id = "{{ input.user_id }}", email = "a@example.com", name = "A" }

[[steps]]
id = "welcome_email"
task = "email.welcome"

[[steps]]
id = "record_onboarding"
task = "users.record_onboarding"
after = ["welcome_email"]
"""


def _registration():  # type: ignore[no-untyped-def]
    return load_text(THREE_STEPS, "three.toml", tasks=["email.welcome", "users.record_onboarding"],
                     events=["user.created"])


def test_the_chart_scales_to_the_busiest_minute() -> None:
    chart = per_minute([0] * 58 + [4, 2], [0] * 59 + [1])
    bars = {(bar.kind, bar.minute): bar for bar in chart.bars}
    assert chart.peak == 4 and len(chart.bars) == 120
    assert bars[("processed", 1)].height == chart.baseline - 10  # the peak fills the plot
    assert bars[("processed", 0)].height == bars[("processed", 1)].height / 2
    assert bars[("failed", 0)].count == 1 and bars[("failed", 59)].height == 0


def test_an_idle_hour_draws_no_bars() -> None:
    assert all(bar.height == 0 for bar in per_minute([0] * 60, [0] * 60).bars)


def test_the_dag_puts_each_step_in_its_depth_column() -> None:
    dag = layout(_registration(), {"announce": "succeeded", "welcome_email": "dead"})
    nodes = {node.id: node for node in dag.nodes}
    assert nodes["announce"].x == nodes["welcome_email"].x == PAD
    assert nodes["record_onboarding"].x == PAD + NODE_W + GAP_X
    assert (nodes["announce"].status, nodes["welcome_email"].status, nodes["record_onboarding"].status) == (
        "succeeded", "dead", "waiting")
    [edge] = dag.edges
    assert (edge.x1, edge.x2) == (PAD + NODE_W, nodes["record_onboarding"].x)
    assert dag.width == 2 * PAD + 2 * NODE_W + GAP_X


def test_a_definition_alone_is_drawn_without_statuses() -> None:
    assert {node.status for node in layout(_registration()).nodes} == {"definition"}


def _step(step_id: str, ready: float | None, started: float | None, finished: float | None,
          status: str = "succeeded") -> dict[str, object]:
    def at(seconds: float | None) -> str | None:
        return None if seconds is None else (START + timedelta(seconds=seconds)).isoformat()

    return {"id": step_id, "status": status, "ready_at": at(ready), "started_at": at(started),
            "finished_at": at(finished)}


def test_the_timeline_spans_first_ready_to_last_finished() -> None:
    drawn = lay_out([_step("a", 0, 1, 2), _step("b", 2, 3, 4), _step("c", None, None, None, "waiting")])
    assert drawn is not None and drawn.span_seconds == 4
    a, b = drawn.lanes
    assert (a.wait_x, a.work_x, a.work_width) == (LABEL, LABEL + PLOT / 4, PLOT / 4)
    assert (b.wait_x, b.work_x + b.work_width) == (LABEL + PLOT / 2, LABEL + PLOT)


def test_a_running_step_reaches_now_and_an_unstarted_run_has_no_timeline() -> None:
    drawn = lay_out([_step("a", 0, 1, None, "running")], now=START + timedelta(seconds=2))
    assert drawn is not None and drawn.lanes[0].work_x + drawn.lanes[0].work_width == LABEL + PLOT
    assert lay_out([_step("a", None, None, None, "waiting")]) is None


def test_a_parked_wait_is_marked_in_the_dag_and_on_the_timeline() -> None:
    workflow = load_text('name = "w"\n\n[[steps]]\nid = "nap"\nwait = "3d"\n\n[[steps]]\nid = "then"\n'
                         'event = "user.created"\nafter = ["nap"]\npayload = { user_id = "u" }\n', "w.toml",
                         tasks=[], events=["user.created"])
    dag = layout(workflow, {"nap": "waiting", "then": "waiting"},
                 {"nap": ("until 2026-12-05 12:00", "waits until 2026-12-05 12:00 UTC (in 3 d)")})
    nap, then = dag.nodes
    assert (nap.label, nap.parked) == ("until 2026-12-05 12:00", "waits until 2026-12-05 12:00 UTC (in 3 d)")
    assert (then.label, then.parked) == ("event user.created", "")  # waiting for `nap`: not parked
    assert [node.label for node in layout(workflow).nodes] == ["wait 3d", "event user.created"]
    steps = [_step("nap", 0, None, None, "waiting"), _step("then", None, None, None, "waiting")]
    drawn = lay_out(steps, now=START + timedelta(seconds=10), parked={"nap": "waits until …"})
    assert drawn is not None
    [lane] = drawn.lanes
    assert lane.parked == "waits until …" and (lane.wait_x, lane.wait_x + lane.wait_width) == (LABEL, LABEL + PLOT)
