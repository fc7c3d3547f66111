"""Human durations such as ``90s``, ``5m``, ``2h30m`` or ``14d``, used by settings and workflow files."""

import re
from datetime import timedelta

_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
EXPECTED = "a duration like '30s', '5m', '2h30m' or '14d' (units ms, s, m, h, d, w)"


def parse_duration(text: str) -> timedelta:
    """Parse ``text``; raise ValueError naming what was expected."""
    compact = text.strip()
    if not compact:
        raise ValueError(f"expected {EXPECTED}, got an empty string")
    position = 0
    seconds = 0.0
    for match in _PART.finditer(compact):
        if match.start() != position:
            break
        seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position != len(compact):
        raise ValueError(f"expected {EXPECTED}, got {text!r}")
    try:
        return timedelta(seconds=seconds)
    except OverflowError:  # past timedelta's ~2.7 million years
        raise ValueError(f"{text!r} is too long a duration") from None


def format_duration(value: timedelta) -> str:
    """The shortest text that ``parse_duration`` reads back as ``value`` (whole milliseconds)."""
    remaining = round(value.total_seconds() * 1000)
    if remaining == 0:
        return "0s"
    parts = []
    for unit, factor in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        count, remaining = divmod(remaining, factor)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


_RATE = re.compile(r"\s*(\d+)\s*/\s*(second|minute|hour|day|.+)\s*")
_PERIOD_WORDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


class Rate:
    """``count`` events per ``period``, written ``10/minute`` or ``100/15m``."""

    __slots__ = ("count", "period")

    def __init__(self, count: int, period: timedelta) -> None:
        if count < 1 or period <= timedelta(0):
            raise ValueError("a rate needs a positive count and period")
        self.count = count
        self.period = period

    @classmethod
    def parse(cls, text: str) -> "Rate":
        expected = "a rate like '10/minute' or '100/15m' (count / second|minute|hour|day|duration)"
        match = _RATE.fullmatch(text)
        if not match:
            raise ValueError(f"expected {expected}, got {text!r}")
        word = match.group(2)
        try:
            period = (
                timedelta(seconds=_PERIOD_WORDS[word]) if word in _PERIOD_WORDS else parse_duration(word)
            )
            return cls(int(match.group(1)), period)
        except ValueError:
            raise ValueError(f"expected {expected}, got {text!r}") from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Rate) and (self.count, self.period) == (other.count, other.period)

    def __hash__(self) -> int:
        return hash((self.count, self.period))

    def __repr__(self) -> str:
        return f"Rate({self.count}/{format_duration(self.period)})"
