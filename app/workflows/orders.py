"""A task step's order in the plane's terms: the keyword arguments ``Plane.enqueue`` and
``TaskRegistry.options`` take. One translation, for the runner and the simulator alike."""

from typing import Any

from app.plane.tasks.policy import RetryPolicy
from app.workflows.progress import TaskOrder


def plane_options(order: TaskOrder) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if order.priority is not None:
        options["priority"] = order.priority
    if order.delay is not None:
        options["delay"] = order.delay
    if order.timeout is not None:
        options["timeout"] = order.timeout
    if order.retry is not None:
        retry = order.retry
        options["retry"] = RetryPolicy(attempts=retry.attempts, backoff=retry.backoff, first=retry.first,
                                       max=retry.max, jitter=retry.jitter)
    if order.unique_key is not None:
        options["unique_key"] = order.unique_key
        options["unique_ttl"] = order.unique_ttl
    return options
