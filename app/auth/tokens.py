import hashlib
import secrets

TOKEN_PREFIX = "fp_"  # noqa: S105 (a public marker that makes leaked tokens easy to scan for)


def new_token() -> str:
    """An opaque bearer token with 256 bits of randomness."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    """What the database keeps: a leaked table gives no usable tokens."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
