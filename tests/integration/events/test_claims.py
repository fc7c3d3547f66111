"""A consumer's dedupe record, on SQLite and PostgreSQL: a batch claims each message once, ever."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlmodel import Session

from app.bootstrap import Container
from app.db.models import ConsumedMessage
from app.plane.envelope import Envelope
from app.plane.events.consumer import claim, claim_many

IDS = st.lists(st.text(st.characters(codec="utf-8"), min_size=1, max_size=64).filter(str.isprintable), max_size=30)


def test_a_batch_claims_only_what_no_earlier_batch_did(container: Container) -> None:
    with Session(container.engine) as db, db.begin():
        assert claim_many(db, "audit", ["a", "b", "a"]) == {"a", "b"}  # a duplicate in the batch counts once
    with Session(container.engine) as db, db.begin():
        assert claim_many(db, "audit", ["b", "c"]) == {"c"}
        assert claim_many(db, "analytics", ["b"]) == {"b"}  # each consumer keeps its own record
        assert claim(db, "audit", "d") and not claim(db, "audit", "d")
    with Session(container.engine) as db, db.begin():
        assert claim_many(db, "audit", []) == set()
    with Session(container.engine) as db:
        assert db.execute(select(func.count()).select_from(ConsumedMessage)).scalar_one() == 5


def test_a_rolled_back_batch_claims_nothing(container: Container) -> None:
    with Session(container.engine) as db, db.begin():
        claim_many(db, "crm", ["x", "y"])
        db.rollback()
    with Session(container.engine) as db, db.begin():
        assert claim_many(db, "crm", ["x", "y"]) == {"x", "y"}


def test_any_ids_round_trip(container: Container) -> None:
    seen: set[str] = set()

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(IDS)
    def check(ids: list[str]) -> None:
        with Session(container.engine) as db, db.begin():
            assert claim_many(db, "fuzz", ids) == set(ids) - seen  # quotes, unicode, JSON escapes: all kept
        seen.update(ids)

    check()


def test_an_envelope_id_a_consumer_could_not_record_is_refused() -> None:
    for bad in ("", "x" * 65, "a\x00b", "line\nbreak"):
        with pytest.raises(ValueError, match="envelope id"):
            Envelope(kind="event", type="user.created", payload={}, id=bad)
