"""Request and response bodies: the API's contract, kept apart from the tables."""

from datetime import datetime
from typing import Any, NotRequired, TypedDict
from uuid import UUID

import msgspec
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from app.db.models import User
from app.domain.users import (
    PASSWORD_MAX_LENGTH,
    check_name,
    check_new_email,
    check_password,
    check_password_differs,
)


class RegisterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    email: str = Field(examples=["ada@example.com"])
    name: str = Field(examples=["Ada Lovelace"])
    password: str = Field(description="10 to 128 characters, not the email address.")

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return check_new_email(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value)

    @field_validator("password")
    @classmethod
    def _password(cls, value: str, info: ValidationInfo) -> str:
        check_password(value)
        if "email" in info.data:
            check_password_differs(value, info.data["email"])
        return value


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    email: str = Field(max_length=1024, examples=["ada@example.com"])
    password: str = Field(max_length=PASSWORD_MAX_LENGTH * 4)


class UserOut(msgspec.Struct):
    id: UUID
    email: str
    name: str
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> "UserOut":
        return cls(id=user.id, email=user.email, name=user.name, created_at=user.created_at)


class MeOut(UserOut):
    role: str = "user"
    email_verified_at: datetime | None = None  # null until the user opens the link in their welcome mail

    @classmethod
    def of(cls, user: User) -> "MeOut":
        return cls(id=user.id, email=user.email, name=user.name, created_at=user.created_at, role=user.role,
                   email_verified_at=user.email_verified_at)


class VerifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    token: str = Field(max_length=1024, description="The token from the verification link in the mail.")


class VerifiedOut(msgspec.Struct):
    user_id: UUID
    email: str
    email_verified_at: datetime  # the first verification's time: a repeated request answers the same


class PublishEventRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    type: str = Field(max_length=128, examples=["user.email_verified"], description="An event type of the "
                      "catalogue.")
    payload: dict[str, Any] = Field(description="The payload its schema asks for.")


class PublishedOut(msgspec.Struct):
    message_id: str | None  # null while events.enabled is false: no consumer gets it


class LoginOut(msgspec.Struct):
    user: UserOut
    access_token: str
    expires_at: datetime
    token_type: str = "bearer"  # noqa: S105 (the OAuth token type, not a secret)
    workflow_run_id: str | None = None  # registration: the user_registration run, see GET /api/runs/{id}


class ReadinessOut(msgspec.Struct):
    status: str
    checks: dict[str, str]


# A run as GET /api/runs/{id} answers it. Documentation of what app.workflows.views.run_detail returns (dicts,
# times as ISO 8601 strings); tests check real answers against it.
class TimerWaitOut(TypedDict):
    """A parked timer (`wait`, `until`): the step succeeds at ``until``."""

    until: datetime


class EventWaitOut(TypedDict):
    """A parked `wait_for`: the event it waits for, the payload values it must carry (null when the run's
    definition is not stored), and when it times out (null: never)."""

    event: str
    match: dict[str, Any] | None
    timeout_at: datetime | None


class StepOut(TypedDict):
    id: str
    kind: str
    target: str
    status: str
    attempts: int
    task_id: str | None
    worker: str | None
    output: dict[str, Any] | None
    last_error: str | None
    ready_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime | None
    due_at: datetime | None
    awaiting: str | None
    waiting: TimerWaitOut | EventWaitOut | None  # set while the step is parked, else null


class RunOut(TypedDict):
    id: str
    workflow: str
    version: str
    status: str
    correlation_id: str | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None
    input: dict[str, Any]
    steps: list[StepOut]


class TimerWokenOut(TypedDict):
    """A timer cut short: its due time, and woken true."""

    due_at: datetime
    woken: bool


class EventWokenOut(TypedDict):
    """An event wait cut short: it counts as timed out."""

    timed_out: bool
    woken: bool


class ProblemOut(TypedDict):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: NotRequired[str]
