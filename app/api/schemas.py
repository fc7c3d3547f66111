"""Request and response bodies: the API's contract, kept apart from the tables."""

from datetime import datetime
from typing import Any, NotRequired, TypedDict
from uuid import UUID

import msgspec
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from app.db.models import User
from app.domain import verification
from app.domain.users import (
    EMAIL_MAX_LENGTH,
    NAME_MAX_LENGTH,
    PASSWORD_MAX_LENGTH,
    PASSWORD_MIN_LENGTH,
    check_name,
    check_new_email,
    check_password,
    check_password_differs,
)

# What the validators below enforce, stated for the OpenAPI document (json_schema_extra only describes: the checks
# and their messages stay the domain's). A name, once str.strip() took its surrounding blanks: not empty, no control
# character or line break, no encoded-word (=?...?=). A token: its shape, with the blanks a mail client may add.
_STRIPPED = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"  # str.isspace()
_NOT_IN_NAME = r"\x00-\x1f\x7f-\x9f\u2028\u2029"
_EDGE = rf"[^{_NOT_IN_NAME}{_STRIPPED}]"
NAME_PATTERN = (rf"^[{_STRIPPED}]*(?!.*=\?.*\?=){_EDGE}(?:[^{_NOT_IN_NAME}]{{0,{NAME_MAX_LENGTH - 2}}}{_EDGE})?"
                rf"[{_STRIPPED}]*$")
# An RFC 3339 date-time with its offset, a leap second aside (pydantic refuses second 60): all an event's time
# may be (pydantic alone would read a Unix time, as a number or as digits, too).
DATE_TIME_PATTERN = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-5][0-9](\.[0-9]+)?"
                     r"([Zz]|[+-][0-9]{2}:[0-9]{2})$")
TOKEN_PATTERN = (rf"^\s*{verification.PREFIX}[A-Za-z0-9_-]{{{verification.MAX_LENGTH - len(verification.PREFIX)}}}"
                 r"\s*$")


class RegisterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    email: str = Field(examples=["ada@example.com"],
                       json_schema_extra={"format": "email", "maxLength": EMAIL_MAX_LENGTH})
    name: str = Field(examples=["Ada Lovelace"], description=f"1 to {NAME_MAX_LENGTH} characters once the blanks "
                      "around it are stripped; no control character, line break or encoded-word (=?...?=).",
                      json_schema_extra={"pattern": NAME_PATTERN})
    password: str = Field(description=f"{PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters, not the email "
                                      "address.",
                          json_schema_extra={"minLength": PASSWORD_MIN_LENGTH, "maxLength": PASSWORD_MAX_LENGTH,
                                             "pattern": r"^[^\x00]*$"})

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

    token: str = Field(max_length=1024, description="The token from the verification link in the mail.",
                       json_schema_extra={"pattern": TOKEN_PATTERN})


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


class FieldProblemOut(TypedDict):
    field: str
    message: str


class ProblemOut(TypedDict):
    """RFC 9457 problem details: how every error is answered (application/problem+json). ``errors`` names each
    invalid field of a 409 or 422."""

    type: str
    title: str
    status: int
    detail: NotRequired[str]
    errors: NotRequired[list[FieldProblemOut]]
