"""The event catalogue: every domain event, past tense, with a versioned payload schema."""

from dataclasses import dataclass
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field, ValidationError


class UserCreated(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(min_length=1, max_length=64)
    email: EmailStr
    name: str = Field(min_length=1, max_length=200)


class UserEvent(BaseModel):
    """Which user, and the address they registered with: what a later event about a user carries."""

    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(min_length=1, max_length=64)
    email: EmailStr


class UserEmailVerified(UserEvent):
    verified_at: AwareDatetime  # travels as an ISO 8601 string with its offset


@dataclass(frozen=True)
class EventType:
    name: str
    version: int
    schema: type[BaseModel]
    description: str


class InvalidEvent(ValueError):
    """A payload that does not match its event type's schema; ``problems`` names each field."""

    def __init__(self, event: str, problems: dict[str, str]) -> None:
        detail = "; ".join(f"{field}: {message}" for field, message in problems.items())
        super().__init__(f"invalid {event} payload: {detail}")
        self.problems = problems


class EventCatalogue:
    def __init__(self, types: list[EventType]) -> None:
        self._types = {event.name: event for event in types}

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def __getitem__(self, name: str) -> EventType:
        if name not in self._types:
            raise KeyError(f"unknown event {name!r}; known events: {', '.join(sorted(self._types))}")
        return self._types[name]

    def names(self) -> list[str]:
        return sorted(self._types)

    def fields(self) -> dict[str, frozenset[str]]:
        """Each event type's payload fields: what a workflow's `match` may name."""
        return {name: frozenset(event.schema.model_fields) for name, event in self._types.items()}

    def validate(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The payload as its schema reads it; InvalidEvent naming every bad field otherwise."""
        try:
            return self[name].schema.model_validate(payload).model_dump(mode="json")
        except ValidationError as exc:
            problems = {".".join(str(p) for p in error["loc"]) or "payload": error["msg"] for error in exc.errors()}
            raise InvalidEvent(name, problems) from None


EVENTS = [
    EventType("user.created", 1, UserCreated, "A user registered; no password, hash or token ever rides along."),
    EventType("user.email_verified", 1, UserEmailVerified,
              "A user opened their verification link (published once, in the transaction that marks them verified; "
              "never with the token)."),
    EventType("user.verified", 1, UserEvent, "Registration finished with a verified address."),
    EventType("user.expired", 1, UserEvent, "An account was deactivated: its address was never verified in time."),
]
