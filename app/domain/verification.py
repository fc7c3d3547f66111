"""Email verification tokens: what one looks like and what the database keeps of it. No I/O.

A token is ``fpv_`` and 43 URL-safe base64 characters: 256 random bits, safe in a URL as it is. Only its
SHA-256 digest is stored, so a leaked table verifies nobody."""

import hashlib
import re
import secrets

from app.domain.errors import InvalidFields

PREFIX = "fpv_"  # a public marker, like the login tokens' fp_: a leaked link is easy to scan for
_SHAPE = re.compile(r"fpv_[A-Za-z0-9_-]{43}")
MAX_LENGTH = len(PREFIX) + 43


class MalformedToken(InvalidFields):
    """Not something :func:`new_token` could have made: refused without a look-up, naming the field."""

    def __init__(self) -> None:
        super().__init__({"token": f"is not a verification token ({PREFIX} and 43 URL-safe characters)"})


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def parse(token: str) -> str:
    """``token`` if it has a token's shape (surrounding blanks, as a mail client may add, removed)."""
    candidate = token.strip()
    if not _SHAPE.fullmatch(candidate):
        raise MalformedToken()
    return candidate


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()
