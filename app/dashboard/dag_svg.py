"""A workflow's DAG laid out for SVG: one column per ``draw.depths()`` level, edges from each ``after``."""

from collections.abc import Mapping
from dataclasses import dataclass

from app.workflows.draw import depths, label
from app.workflows.spec import Workflow

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 180, 48, 60, 24, 12


@dataclass(frozen=True)
class Node:
    id: str
    label: str  # what it does (draw.label), or for a parked wait what it waits for
    x: int
    y: int
    status: str  # a step status, or "definition" when no run is drawn
    parked: str = ""  # a wait that has started: what it waits for, in words (the node's tooltip)


@dataclass(frozen=True)
class Edge:
    x1: int
    y1: int
    x2: int
    y2: int
    compensation: bool


@dataclass(frozen=True)
class Dag:
    width: int
    height: int
    nodes: list[Node]
    edges: list[Edge]
    node_width: int = NODE_W
    node_height: int = NODE_H


def layout(workflow: Workflow, statuses: Mapping[str, str] | None = None,
           parked: Mapping[str, tuple[str, str]] | None = None) -> Dag:
    """``parked``: step -> (a few words for the box, the whole sentence) for waits that have started."""
    levels = depths(workflow)
    parked = parked or {}
    rows: dict[int, int] = {}
    nodes: dict[str, Node] = {}
    for step in workflow.steps:
        level = levels.get(step.id, 0)
        row = rows.get(level, 0)
        rows[level] = row + 1
        words, sentence = parked.get(step.id, (label(step), ""))
        nodes[step.id] = Node(id=step.id, label=words, x=PAD + level * (NODE_W + GAP_X),
                              y=PAD + row * (NODE_H + GAP_Y),
                              status=(statuses or {}).get(step.id, "waiting" if statuses is not None else "definition"),
                              parked=sentence)
    edges = [Edge(nodes[before].x + NODE_W, nodes[before].y + NODE_H // 2, node.x, node.y + NODE_H // 2, False)
             for step in workflow.steps for before in step.after
             if before in nodes and (node := nodes[step.id])]
    edges += [Edge(nodes[step.id].x + NODE_W // 2, nodes[step.id].y + NODE_H, nodes[step.on_failure].x + NODE_W // 2,
                   nodes[step.on_failure].y, True)
              for step in workflow.steps if step.on_failure in nodes and step.on_failure != step.id]
    columns = max(levels.values(), default=0) + 1
    height = max(rows.values(), default=1)
    return Dag(width=2 * PAD + columns * NODE_W + (columns - 1) * GAP_X,
               height=2 * PAD + height * NODE_H + (height - 1) * GAP_Y, nodes=list(nodes.values()), edges=edges)
