"""Account use cases: register, log in, log out, resolve a token. Each runs in one transaction."""

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.auth import tokens
from app.auth.passwords import Passwords
from app.db.models import AuthSession, User
from app.domain.errors import AccountDeactivated, EmailNotVerified, EmailTaken, InvalidCredentials, InvalidFields
from app.domain.users import Role, check_new_user, normalise_email
from app.workflows.runner import WorkflowRunner


@dataclass(frozen=True)
class Login:
    user: User
    token: str
    expires_at: datetime
    workflow_run_id: str | None = None


@dataclass(frozen=True)
class Principal:
    user: User
    session_id: str

    @property
    def role(self) -> Role:
        return Role(self.user.role)


def _now() -> datetime:
    return datetime.now(UTC)


def _open_session(db: Session, user: User, ttl: timedelta, now: datetime) -> Login:
    token = tokens.new_token()
    record = AuthSession(user_id=user.id, token_digest=tokens.digest(token), created_at=now,
                         expires_at=now + ttl)
    db.add(record)
    return Login(user=user, token=token, expires_at=record.expires_at)


def create_user(db: Session, passwords: Passwords, *, email: str, name: str, password: str,
                role: Role = Role.USER, now: datetime | None = None, verified: bool = False) -> User:
    """Add a user to the caller's transaction; raises InvalidFields or EmailTaken. ``verified``: an operator
    vouches for the address (no mail asks to confirm it)."""
    email, name, password, problems = check_new_user(email, name, password)
    if problems:
        raise InvalidFields(problems)
    if db.exec(select(User.id).where(User.email == email)).first() is not None:
        raise EmailTaken()
    now = now or _now()
    user = User(email=email, name=name, password_hash=passwords.hash(password), role=role.value, created_at=now,
                email_verified_at=now if verified else None)
    db.add(user)
    try:
        db.flush()
    except IntegrityError:  # a concurrent registration won the race for this address
        raise EmailTaken() from None
    return user


REGISTRATION = "user_registration"


def register(db: Session, passwords: Passwords, runner: WorkflowRunner, *, email: str, name: str, password: str,
             session_ttl: timedelta) -> Login:
    """Create a ``user``, log them in and start the ``user_registration`` workflow (announce, welcome mail,
    …): all of it commits together or not at all."""
    now = _now()
    with db.begin():
        user = create_user(db, passwords, email=email, name=name, password=password, now=now)
        login = _open_session(db, user, session_ttl, now)
        started = runner.start(db, REGISTRATION, {"user_id": str(user.id), "email": user.email, "name": user.name})
    return replace(login, workflow_run_id=started.run_id)


def log_in(db: Session, passwords: Passwords, *, email: str, password: str,
           session_ttl: timedelta, require_verified: bool = False) -> Login:
    """Open a session; the same InvalidCredentials whether the email is unknown or the password wrong. Only
    then, to the one who knows the password: AccountDeactivated, or EmailNotVerified if ``require_verified``."""
    try:
        email = normalise_email(email)
    except ValueError:
        email = ""
    with db.begin():
        user = db.exec(select(User).where(User.email == email)).first() if email else None
        if not passwords.verify(user.password_hash if user else None, password) or user is None:
            raise InvalidCredentials()
        if user.deactivated_at is not None:
            raise AccountDeactivated()
        if require_verified and user.email_verified_at is None:
            raise EmailNotVerified()
        if passwords.needs_rehash(user.password_hash):
            user.password_hash = passwords.hash(password)
        login = _open_session(db, user, session_ttl, _now())
    return login


def log_out(db: Session, token: str) -> None:
    with db.begin():
        db.exec(delete(AuthSession).where(col(AuthSession.token_digest) == tokens.digest(token)))


def authenticate(db: Session, token: str) -> Principal | None:
    """The user behind a live token, or None for an unknown, revoked or expired one, or a deactivated account's
    (whose sessions ``users.expire`` deletes too)."""
    query = (
        select(AuthSession, User)
        .join(User, AuthSession.user_id == User.id)  # type: ignore[arg-type]
        .where(AuthSession.token_digest == tokens.digest(token), AuthSession.expires_at > _now(),
               col(User.deactivated_at).is_(None))
    )
    with db.begin():
        row = db.exec(query).first()
    if row is None:
        return None
    session, user = row
    return Principal(user=user, session_id=str(session.id))


def delete_expired_sessions(db: Session, now: datetime | None = None) -> int:
    with db.begin():
        result = db.exec(delete(AuthSession).where(col(AuthSession.expires_at) <= (now or _now())))
    return int(result.rowcount)
