"""The one envelope every task and event travels in: small, versioned, forward-compatible."""

import json
import uuid
from dataclasses import asdict, dataclass, field, fields
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

    def __post_init__(self) -> None:
        try:
            json.dumps(self.payload, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"payload of {self.type} is not plain JSON: {exc}") from None

    @property
    def idempotency_key(self) -> str:
        """Stable across redeliveries and retries: handlers with outside effects dedupe on it."""
        return f"{self.run_id}:{self.step_id}" if self.run_id and self.step_id else self.id

    def to_json(self) -> str:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> "Envelope":
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Envelope":
        if not isinstance(data, dict):
            raise ValueError("an envelope is a JSON object")
        values = {key: value for key, value in data.items() if key in _FIELDS}  # newer fields are ignored
        values["created_at"] = datetime.fromisoformat(values["created_at"])
        return cls(**values)


_FIELDS = frozenset(f.name for f in fields(Envelope))
