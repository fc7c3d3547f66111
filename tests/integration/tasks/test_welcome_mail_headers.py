"""Whatever the user's name, the welcome mail's raw bytes hold exactly the headers Flowplane writes: no
user text in a header, so no encoded word, line break or long name can add one (CVE-2024-6923 and kin).
Checked on the bytes the SMTP server received and on the .eml the file mailer writes."""

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.config import Settings
from app.domain.users import check_name
from app.handlers import Services
from tests.integration.tasks.smtp import Inbox, Received, mail_services, welcome, welcome_envelope

HEADERS = ["Content-Transfer-Encoding", "Content-Type", "Date", "From", "MIME-Version", "Message-ID", "Subject", "To"]
RECIPIENT = "ada@example.com"

HOSTILE_NAMES = [
    "=?utf-8?q?=0D=0AReply-To:_attacker@evil.example?=",
    "=?utf-8?q?=0D=0AReply-To:_attacker@evil.example=0D=0AContent-Type:_text/html?=",
    "=?UTF-8?B?DQpSZXBseS1UbzogYXR0YWNrZXJAZXZpbC5leGFtcGxl?=",  # base64 of CRLF Reply-To: attacker@evil.example
    "Ada =?utf-8?q?=0AReply-To:_a@evil.example?= Lovelace",
    "Ada\r\nReply-To: attacker@evil.example",
    "Ada\nReply-To: attacker@evil.example",
    "Ada\rReply-To: attacker@evil.example",
    "Ada\r\nContent-Type: text/html\r\n\r\n<b>pay here</b>",
    "Ada\x85Reply-To: attacker@evil.example",
    "Ada\u2028Reply-To: attacker@evil.example",
    "Ada\u2029Reply-To: attacker@evil.example",
    "Ada\x0bReply-To: a@evil.example\x0cBcc: b@evil.example\x1cC\x1dD\x1eE",
    "x" * 200,
    "é" * 200,
    "=?utf-8?q?" + "=41" * 60 + "?=",
    "A " * 99 + "=?utf-8?q?=0D=0AReply-To:_a@evil.example?=",
]


def _body(name: str) -> str:
    return f"Hello {name},\n\nyour Flowplane account {RECIPIENT} is ready. Welcome aboard!\n\n— Flowplane\n"


def _lines(text: str) -> str:
    return re.sub(r"\r\n?", "\n", text)


def assert_only_our_headers(received: Received, name: str) -> None:
    # The raw header block: each field once, none of them a user's
    assert sorted(received.header_names) == HEADERS, received.header_block
    block = received.header_block.lower()
    assert re.search(rb"^(reply-to|bcc|cc)[ \t]*:", block, flags=re.MULTILINE) is None and b"=?" not in block
    content_types = re.findall(rb"^content-type:.*$", block, flags=re.MULTILINE)
    assert content_types == [b'content-type: text/plain; charset="utf-8"']
    # The same, as a standards-following reader sees it
    message = received.parsed()
    assert sorted(message.keys()) == HEADERS
    assert message["Subject"] == "Welcome to Flowplane"
    assert message["To"] == RECIPIENT and received.rcpt_tos in ([], [RECIPIENT])
    assert message.get_content_type() == "text/plain" and not message.is_multipart()
    assert _lines(message.get_content()) == _lines(_body(name))
    sent = parsedate_to_datetime(message["Date"])
    assert sent.tzinfo is not None and abs(sent - datetime.now(UTC)) < timedelta(minutes=1)


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_hostile_name_adds_no_header(mail: Services, inbox: Inbox, name: str) -> None:
    # Whatever reached the task (registration refuses most of these; a hand-made task need not)
    result = welcome(mail, welcome_envelope(RECIPIENT, name))
    assert result["duplicate"] is False
    assert len(inbox.received) == 1
    assert_only_our_headers(inbox.received[0], name)


def _accepted(name: str) -> bool:
    try:
        check_name(name)
    except ValueError:
        return False
    return True


# Any text, and text made of encoded-word and line-break pieces; kept when registration accepts it
accepted_names = st.one_of(
    st.text(max_size=250),
    st.text(alphabet="=?uUtTfF8-qQbB_:@. \r\n\t\u2028\u2029\x85aZ", max_size=120),
).filter(_accepted).map(check_name)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=accepted_names)
def test_any_name_registration_accepts_gives_exactly_our_headers(mail: Services, inbox: Inbox, name: str) -> None:
    before = len(inbox.received)
    welcome(mail, welcome_envelope(RECIPIENT, name))
    assert len(inbox.received) == before + 1
    assert_only_our_headers(inbox.received[-1], name)


def test_the_file_mailer_writes_the_same_headers(make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    settings = make_settings(FLOWPLANE_EMAIL__BACKEND="file", FLOWPLANE_EMAIL__MAIL_DIR=str(tmp_path / "mail"))
    with mail_services(settings) as services:
        for name in HOSTILE_NAMES:
            before = set((tmp_path / "mail").glob("*.eml"))
            welcome(services, welcome_envelope(RECIPIENT, name))
            [written] = set((tmp_path / "mail").glob("*.eml")) - before
            assert_only_our_headers(Received(written.read_bytes(), []), name)
