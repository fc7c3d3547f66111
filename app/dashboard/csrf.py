"""Per-session CSRF tokens: an HMAC of a fixed purpose, keyed with the session token's digest.

The token changes with every login, needs no storage, and cannot be computed without the session cookie,
which is HttpOnly and SameSite=Strict."""

import hashlib
import hmac
import secrets

from app.auth import tokens

PURPOSE = b"flowplane-dashboard-csrf-v1"
FIELD = "csrf"
LOGIN_COOKIE = "flowplane_login"  # before a session exists: a random token, in a cookie and in the form


def new_login_token() -> str:
    return secrets.token_urlsafe(32)


def token_for(session_token: str) -> str:
    return hmac.new(tokens.digest(session_token).encode(), PURPOSE, hashlib.sha256).hexdigest()


def valid(session_token: str, submitted: str | None) -> bool:
    return bool(submitted) and hmac.compare_digest(token_for(session_token), str(submitted))


def valid_login(cookie: str | None, submitted: str | None) -> bool:
    """The login form's token matches its cookie: a cross-site form cannot log a victim into another account."""
    return bool(cookie) and bool(submitted) and hmac.compare_digest(str(cookie), str(submitted))
