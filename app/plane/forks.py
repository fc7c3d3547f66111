"""Objects that keep a lock and a thread of their own, made safe in a forked child: a child has none of
its parent's threads, and a lock one of them held at the fork would stay held forever."""

import functools
import os
import weakref
from collections.abc import Callable


def on_fork(reset: Callable[[], None]) -> None:
    """Call the bound method ``reset`` in every child forked from now on, while its object lives."""
    os.register_at_fork(after_in_child=functools.partial(_call, weakref.WeakMethod(reset)))


def _call(reset: "weakref.WeakMethod[Callable[[], None]]") -> None:
    if (method := reset()) is not None:
        method()
