"""The welcome mail's Message-ID: one per idempotency key, on the sender's domain."""

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.handlers.email import message_id


@pytest.mark.parametrize(("sender", "domain"), [
    ("Flowplane <no-reply@flowplane.local>", "flowplane.local"),
    ("Flowplane <no-reply@Mail.Example.COM>", "mail.example.com"),
    ("no-reply@example.org", "example.org"),
    ("Flowplane", "flowplane.local"),  # no address: the fallback
    ("Flowplane <no-reply@[192.0.2.1]>", "flowplane.local"),  # not a plain domain
    ("Flowplane <no-reply@-example-.com>", "flowplane.local"),
])
def test_the_domain_is_the_senders(sender: str, domain: str) -> None:
    digest = hashlib.sha256(b"run:welcome_email").hexdigest()[:32]
    assert message_id("run:welcome_email", sender) == f"<{digest}@{domain}>"


@given(st.text(), st.text())
def test_one_key_one_id_and_two_keys_two(key: str, other: str) -> None:
    sender = "Flowplane <no-reply@flowplane.local>"
    assert message_id(key, sender) == message_id(key, sender)
    assert (message_id(key, sender) == message_id(other, sender)) == (key == other)
