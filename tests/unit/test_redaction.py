"""Secrets in URLs are masked wherever a URL is printed or logged: userinfo passwords and credential-like query
parameters, whatever their case."""

import string
from urllib.parse import parse_qsl, urlsplit

from hypothesis import given
from hypothesis import strategies as st

from app.redaction import redact_url

SECRET_NAMES = ["password", "pass", "passwd", "pwd", "secret", "client_secret", "token", "access_token",
                "refresh_token", "api_key", "apikey", "api-key", "key", "auth", "sslpassword"]
PLAIN_NAMES = ["sslmode", "db", "timeout", "options", "page", "state", "next", "keyspace", "monkey"]
values = st.text(string.ascii_letters + string.digits + "-._~", min_size=1, max_size=30)


def test_userinfo_passwords_are_masked() -> None:
    assert redact_url("postgresql://app:hunter2@db:5432/app") == "postgresql://app:***@db:5432/app"
    assert redact_url("redis://:hunter2@[::1]:6379/0") == "redis://:***@[::1]:6379/0"
    assert redact_url("amqp://guest@Rabbit.local//") == "amqp://guest@Rabbit.local//"
    assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_credentials_in_the_query_are_masked() -> None:
    assert (redact_url("postgresql://db/app?sslmode=require&password=hunter2&PassWord=x2")
            == "postgresql://db/app?sslmode=require&password=***&PassWord=***")
    assert redact_url("/health?access_token=abc&page=2") == "/health?access_token=***&page=2"
    assert redact_url("/x?api%5Fkey=abc") == "/x?api%5Fkey=***"


def test_what_cannot_be_parsed_is_hidden_whole() -> None:
    assert "hunter2" not in redact_url("postgresql://app:hunter2@[db:5432/app")


@given(name=st.sampled_from(SECRET_NAMES), case=st.sampled_from([str.lower, str.upper, str.title]), secret=values,
       plain=st.sampled_from(PLAIN_NAMES), other=values, first=st.booleans())
def test_a_credential_parameter_is_masked_and_others_kept(name: str, case: object, secret: str, plain: str,
                                                         other: str, first: bool) -> None:
    key = case(name)  # type: ignore[operator]
    pairs = [(key, secret), (plain, other)] if first else [(plain, other), (key, secret)]
    url = "postgresql://app:pw@db/app?" + "&".join(f"{k}={v}" for k, v in pairs)
    shown = dict(parse_qsl(urlsplit(redact_url(url)).query))
    assert shown == {key: "***", plain: other}
