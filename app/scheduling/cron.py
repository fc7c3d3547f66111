"""Five-field cron expressions, read by APScheduler 3. APScheduler is the authority on what is valid; this
module only says first, in words, which field is wrong and where, for the mistakes people make.

One rule is ours: the day of week is written by name (mon-fri). APScheduler 3 reads 0 as Monday where cron
reads it as Sunday, so a number there would fire a day later than its author meant, silently."""

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from app.workflows.problems import suggest

FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
_APSCHEDULER_FIELDS = ("minute", "hour", "day", "month", "day_of_week")  # from_crontab's order
_BOUNDS = {"minute": (0, 59), "hour": (0, 23), "day-of-month": (1, 31), "month": (1, 12), "day-of-week": (0, 6)}
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NUMBERS = re.compile(r"(?P<first>\*|[0-9]+)(?:-(?P<last>[0-9]+))?(?:/(?P<step>[0-9]+))?")
_NAMES = re.compile(r"(?P<first>[a-z]+)(?:-(?P<last>[a-z]+))?(?P<step>/.*)?", re.IGNORECASE)
_FORMS = "a number, a range (1-5), a step (*/15 or 0-30/10) or a list of these (1,15)"
_NEVER_BEFORE = datetime(2000, 1, 1)  # cron has no year: a date that matches at all matches within 28 years


@dataclass(frozen=True)
class CronError:
    column: int  # 1-based, in the expression; 0: the expression as a whole
    message: str


def trigger(expression: str, timezone: str) -> Any:
    """The APScheduler trigger of a checked expression (typed Any: APScheduler 3 has no type hints)."""
    return CronTrigger.from_crontab(expression, timezone=timezone)


def check(expression: str, timezone: str = "UTC") -> list[CronError]:
    """What is wrong with ``expression``, each at the column of the item concerned; [] when it is valid."""
    fields = list(re.finditer(r"\S+", expression))
    if len(fields) != len(FIELDS):
        return [CronError(0, f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}")]
    errors: list[CronError] = []
    for match, name, option in zip(fields, FIELDS, _APSCHEDULER_FIELDS, strict=True):
        errors += _check_field(name, option, match.group(), match.start() + 1)
    if errors:
        return errors
    try:
        fires = trigger(expression, timezone).get_next_fire_time(None, _NEVER_BEFORE.replace(tzinfo=ZoneInfo(timezone)))
    except ValueError as error:  # nothing we know of gets here; APScheduler has the last word
        return [CronError(0, f"invalid cron expression: {error}")]
    return [] if fires else [CronError(0, "no date matches: this expression never fires")]


def _check_field(name: str, option: str, text: str, column: int) -> list[CronError]:
    errors: list[CronError] = []
    offset = 0
    for item in text.split(","):
        message = _check_item(name, item)
        if message is None:  # ours found nothing: ask APScheduler's parser for this field
            message = _apscheduler_says(option, item)
        if message:
            errors.append(CronError(column + offset, f"{name} field: {message}"))
        offset += len(item) + 1
    return errors


def _check_item(name: str, item: str) -> str | None:
    """A message for a mistake in one comma-separated item, or None."""
    if not item:
        return "an empty item (two commas, or a comma at an end)"
    low, high = _BOUNDS[name]
    if name == "day-of-week" and item != "*":
        return _check_day_names(item)
    if name == "day-of-month" and item.lower() == "last":
        return None
    if name == "month" and (names := _NAMES.fullmatch(item)):
        return _check_names(item, names, MONTHS, "month")
    numbers = _NUMBERS.fullmatch(item)
    if not numbers:
        return f"{item!r} is not {_FORMS}"
    first, last, step = numbers.group("first", "last", "step")
    if first == "*" and last is not None:
        return f"{item!r}: '*' is every value already; write a range such as {low}-{high} instead"
    for value in (first, last):
        if value not in (None, "*") and not low <= _number(value) <= high:
            return f"{value} is out of range {low}-{high}"
    if last is not None and _number(first) > _number(last):
        return f"the range {first}-{last} runs backwards; write {last}-{first}"
    if step is not None and _number(step) == 0:
        return "a step must be 1 or more, got 0"
    return None


def _check_day_names(item: str) -> str | None:
    names = _NAMES.fullmatch(item)
    if names is None or item[:1].isdigit():
        return (f"write days by name (mon, tue, wed, thu, fri, sat, sun), not {item!r}: "
                "APScheduler 3 counts 0 as Monday where cron counts it as Sunday")
    return _check_names(item, names, DAYS, "day")


def _check_names(item: str, names: re.Match[str], known: tuple[str, ...], what: str) -> str | None:
    if names.group("step"):
        return f"{item!r}: a step applies to numbers only, e.g. 1-12/3"
    for name in names.group("first", "last"):
        if name is not None and name.lower() not in known:
            return f"{name!r} is not a {what} ({', '.join(known)}){suggest(name.lower(), known)}"
    first, last = names.group("first", "last")
    if last is not None and known.index(first.lower()) > known.index(last.lower()):
        return f"the range {first}-{last} runs backwards" + ("; weeks run mon to sun here" if what == "day" else "")
    return None


def _number(digits: str) -> int:
    """Its value; a huge one stands for any number out of range (int() refuses over 4,300 digits)."""
    return int(digits) if len(digits.lstrip("0")) <= 9 else 10**9


def _apscheduler_says(option: str, item: str) -> str | None:
    try:
        CronTrigger(**{option: item}, timezone="UTC")
    except ValueError as error:
        return re.sub(r"^Error validating expression '[^']*': ", f"{item}: ", str(error))
    return None
