"""The one envelope every task and event travels in: small, versioned, forward-compatible."""

import json
import uuid
from dataclasses import InitVar, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Literal

Kind = Literal["task", "event"]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Envelope:
    kind: Kind
    type: str  # a task name ("email.welcome") or an event type ("user.created")
    payload: dict[str, Any]
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    version: int = 1
    correlation_id: str | None = None
    run_id: str | None = None
    step_id: str | None = None
    attempt: int = 1
    created_at: datetime = field(default_factory=_now)
    decoded: InitVar[bool] = False  # read from JSON, so plain JSON already: the check below is skipped

    def __post_init__(self, decoded: bool) -> None:
        # Consumers record the ids they applied (64 characters at most, never a NUL or a control character)
        if not isinstance(self.id, str) or not 0 < len(self.id) <= 64 or not self.id.isprintable():
            raise ValueError(f"an envelope id is 1 to 64 printable characters, got {str(self.id)[:80]!r}")
        if not isinstance(self.payload, dict):
            raise ValueError(f"the payload of {self.type} is a JSON object, got {type(self.payload).__name__}")
        if decoded:
            return
        try:
            json.dumps(self.payload, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"payload of {self.type} is not plain JSON: {exc}") from None

    @property
    def idempotency_key(self) -> str:
        """Stable across redeliveries and retries: handlers with outside effects dedupe on it."""
        return f"{self.run_id}:{self.step_id}" if self.run_id and self.step_id else self.id

    def to_json(self) -> str:
        """Encoded once: the outbox row, the queue and the broker each take the same text."""
        if (text := self.__dict__.get("_json")) is None:
            data = {name: getattr(self, name) for name in _FIELD_NAMES}  # not asdict(): it deep-copies the payload
            data["created_at"] = self.created_at.isoformat()
            text = self.__dict__["_json"] = json.dumps(data, separators=(",", ":"))
        return str(text)

    @classmethod
    def from_json(cls, text: str | bytes) -> "Envelope":
        return cls.from_dict(json.loads(text, parse_constant=_not_json))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Envelope":
        if not isinstance(data, dict):
            raise ValueError("an envelope is a JSON object")
        values = {key: value for key, value in data.items() if key in _FIELDS}  # newer fields are ignored
        values["created_at"] = datetime.fromisoformat(values["created_at"])
        return cls(**values, decoded=True)


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


_FIELD_NAMES = tuple(f.name for f in fields(Envelope))
_FIELDS = frozenset(_FIELD_NAMES)
