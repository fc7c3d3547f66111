"""The catch-up rule alone: replicas start after an outage, each deciding from what it saw of the claims
(possibly stale), and the ticks fired are checked against arithmetic on the interval."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from app.scheduling.catchup import owed
from app.scheduling.spec import Schedule
from app.scheduling.ticks import EPOCH


@dataclass(frozen=True)
class Outage:
    schedule: Schedule
    starts: list[datetime]  # when each replica starts, in order
    snapshots: list[int]  # how many of the claims made before it each replica saw (a stale read sees fewer)
    first_seen: datetime
    last_fired: datetime | None  # the last tick fired before the outage

    def latest_tick(self, moment: datetime) -> datetime:
        every = self.schedule.every
        assert every is not None
        return EPOCH + ((moment - EPOCH) // every) * every


@st.composite
def outages(draw: st.DrawFn, coalesce: bool) -> Outage:
    interval = timedelta(seconds=draw(st.integers(1, 86_400)))
    grace = timedelta(seconds=draw(st.integers(1, 30 * int(interval.total_seconds()))))
    schedule = Schedule(name="s", target_kind="task", target="t", every=interval, misfire_grace=grace,
                        coalesce=coalesce)
    first = draw(st.datetimes(datetime(2020, 1, 1), datetime(2035, 1, 1), timezones=st.just(UTC)))
    count = draw(st.integers(1, 5))
    starts = sorted(first + interval * draw(st.floats(0, 3)) for _ in range(count))
    first_seen = first - grace * draw(st.sampled_from([0, 0.5, 1, 3]) | st.floats(0, 5))  # 0: brand new
    down_at = first - grace * draw(st.floats(0, 3))  # the outage began here
    before = EPOCH + ((down_at - EPOCH) // interval) * interval
    last_fired = before if before >= first_seen and draw(st.booleans()) else None
    snapshots = draw(st.lists(st.integers(0, 5), min_size=count, max_size=count))
    return Outage(schedule, starts, snapshots, first_seen, last_fired)


def replay(outage: Outage) -> list[datetime]:
    """Every replica decides and claims in turn; the claims are what fired (a tick is claimed once)."""
    claims: list[datetime] = []
    for now, seen in zip(outage.starts, outage.snapshots, strict=True):
        visible = [tick for tick in (outage.last_fired, *claims[:seen]) if tick is not None]
        ticks = owed(outage.schedule, now, first_seen=outage.first_seen, handled=None,
                     last_fired=max(visible, default=None))
        assert all(now - outage.schedule.misfire_grace < tick <= now for tick in ticks)
        claims.extend(tick for tick in ticks if tick not in claims)
    return claims


@settings(max_examples=300, deadline=None)
@given(outages(coalesce=True))
def test_coalescing_replicas_fire_at_most_one_missed_tick_the_latest(outage: Outage) -> None:
    fired = replay(outage)
    started = outage.starts[0]
    assert all(tick >= outage.first_seen for tick in fired)  # nothing from before the schedule existed
    assert outage.last_fired is None or all(tick > outage.last_fired for tick in fired)
    missed = [tick for tick in fired if tick <= started]
    assert len(missed) <= 1  # however many replicas, whatever each saw of the others' claims
    latest = outage.latest_tick(started)
    owed_one = (latest >= outage.first_seen and (outage.last_fired is None or latest > outage.last_fired)
                and latest > started - outage.schedule.misfire_grace)
    assert missed == ([latest] if owed_one else [])


@settings(max_examples=300, deadline=None)
@given(outages(coalesce=False))
def test_without_coalescing_each_missed_tick_inside_the_grace_fires_once(outage: Outage) -> None:
    fired = replay(outage)
    started = outage.starts[0]
    assert len(fired) == len(set(fired))
    every = outage.schedule.every
    assert every is not None
    expected = []
    tick = outage.latest_tick(started)
    while (tick > started - outage.schedule.misfire_grace and tick >= outage.first_seen
           and (outage.last_fired is None or tick > outage.last_fired)):
        expected.insert(0, tick)
        tick -= every
    assert [tick for tick in fired if tick <= started] == expected


def test_a_running_replica_owes_only_the_ticks_after_the_ones_it_already_decided() -> None:
    schedule = Schedule(name="s", target_kind="task", target="t", every=timedelta(minutes=10),
                        misfire_grace=timedelta(hours=1), coalesce=False)
    tick = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    assert owed(schedule, tick + timedelta(minutes=25), first_seen=tick - timedelta(days=1),
                handled=tick + timedelta(minutes=5), last_fired=tick) == [tick + timedelta(minutes=10),
                                                                          tick + timedelta(minutes=20)]
