"""Rules for users: roles, email normalisation and the password policy."""

import enum
import re
import unicodedata

from email_validator import EmailNotValidError, validate_email

PASSWORD_MIN_LENGTH = 10
PASSWORD_MAX_LENGTH = 128
NAME_MAX_LENGTH = 200
EMAIL_MAX_LENGTH = 254
# RFC 2047's =?charset?encoding?text?=, broadly: mail parsers decode it wherever they meet it, CR/LF included
_ENCODED_WORD = re.compile(r"=\?.*\?=", re.DOTALL)


class Role(enum.StrEnum):
    USER = "user"
    OPERATOR = "operator"  # reads every operator endpoint, changes nothing
    ADMIN = "admin"

    def can_read_operations(self) -> bool:
        return self in (Role.OPERATOR, Role.ADMIN)

    def can_change_operations(self) -> bool:
        return self is Role.ADMIN


def _reject_unstorable(value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("contains characters that are not valid Unicode text") from None


def has_encoded_word(text: str) -> bool:
    return _ENCODED_WORD.search(text) is not None


def _reject_encoded_words(value: str) -> None:
    if has_encoded_word(value):
        raise ValueError("must not contain encoded-word syntax (=?...?=)")


def normalise_email(value: str) -> str:
    """The stored, case-insensitive form of ``value``; ValueError says why it is not an address."""
    _reject_unstorable(value)
    if len(value) > EMAIL_MAX_LENGTH:
        raise ValueError(f"must be at most {EMAIL_MAX_LENGTH} characters")
    try:
        checked = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"is not a valid email address: {exc}") from None
    return checked.normalized.lower()


def check_new_email(value: str) -> str:
    """An address a new user may register: normalised, and safe in a To: header."""
    email = normalise_email(value)
    _reject_encoded_words(email)  # email-validator allows = and ? in the local part
    return email


def check_name(value: str) -> str:
    _reject_unstorable(value)
    name = unicodedata.normalize("NFC", value.strip())
    if not name:
        raise ValueError("must not be empty")
    if len(name) > NAME_MAX_LENGTH:
        raise ValueError(f"must be at most {NAME_MAX_LENGTH} characters")
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in name):
        raise ValueError("must not contain control characters")
    if name.splitlines() != [name]:  # U+2028 and U+2029 are not control characters, yet break lines
        raise ValueError("must not contain line breaks")
    _reject_encoded_words(name)
    return name


def check_password(value: str) -> str:
    _reject_unstorable(value)
    if len(value) < PASSWORD_MIN_LENGTH:
        raise ValueError(f"must be at least {PASSWORD_MIN_LENGTH} characters")
    if len(value) > PASSWORD_MAX_LENGTH:
        raise ValueError(f"must be at most {PASSWORD_MAX_LENGTH} characters")
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def check_password_differs(password: str, email: str) -> None:
    local_part = email.partition("@")[0]
    if password.strip().lower() in (email.lower(), local_part.lower()):
        raise ValueError("must not be the email address")


def check_new_user(email: str, name: str, password: str) -> tuple[str, str, str, dict[str, str]]:
    """Check every field at once: the cleaned values and ``{field: problem}`` for each bad one."""
    problems: dict[str, str] = {}
    cleaned = {"email": email, "name": name, "password": password}
    for field, check in (("email", check_new_email), ("name", check_name), ("password", check_password)):
        try:
            cleaned[field] = check(cleaned[field])
        except ValueError as exc:
            problems[field] = str(exc)
    if "email" not in problems and "password" not in problems:
        try:
            check_password_differs(cleaned["password"], cleaned["email"])
        except ValueError as exc:
            problems["password"] = str(exc)
    return cleaned["email"], cleaned["name"], cleaned["password"], problems
