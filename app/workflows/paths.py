"""The dotted paths that conditions and templates look up (``input.email``, ``steps.a.output.id``):
how they are spelled, and the one way they are looked up in a run's context."""

import re
from collections.abc import Mapping
from typing import Any

from app.workflows.spec import Context, Reference

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
PATH = re.compile(rf"{IDENTIFIER.pattern}(?:\.{IDENTIFIER.pattern})*")
ROOTS = ("input", "steps")
STEP_PARTS = ("output", "status")


def lookup(context: Context, reference: Reference) -> Any:
    """The value at ``reference``, or None where any part of it is missing: a lookup never raises."""
    value: Any = context
    for part in reference:
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def dotted(reference: Reference) -> str:
    return ".".join(reference)
