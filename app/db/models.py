"""Tables. API and CLI never expose these directly: they map them to their own DTOs."""

import uuid
from datetime import datetime

from sqlmodel import Field, SQLModel

from app.db.types import UTCDateTime


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    email: str = Field(max_length=254, unique=True, index=True)
    name: str = Field(max_length=200)
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=16, default="user")
    created_at: datetime = Field(sa_type=UTCDateTime, index=True)


class AuthSession(SQLModel, table=True):
    """A login: the token itself is never stored, only its SHA-256 digest."""

    __tablename__ = "sessions"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    token_digest: str = Field(max_length=64, unique=True, index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
