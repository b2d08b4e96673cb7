"""When a wrapper runs next: a fixed rate or a 5-field cron expression (UTC), and the failure backoff."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # Only a type: shared.domain.models imports this module to validate cron expressions.
    from shared.domain.models import Schedule

FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
NAMES: tuple[dict[str, int], ...] = (
    {},
    {},
    {},
    {name: number for number, name in enumerate(MONTHS, 1)},
    {name: number for number, name in enumerate(WEEKDAYS)},
)
# The most days each month can have (February in leap years).
MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
# Any satisfiable expression matches within 28 years (the calendar's cycle); 2100 skips a leap day.
SEARCH_YEARS = 40
MAX_BACKOFF_EXPONENT = 32


@dataclass(frozen=True)
class CronExpression:
    """A parsed cron expression: the allowed values of each field (day of week 0 = Sunday)."""

    text: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: tuple[int, ...]
    weekdays: frozenset[int]
    # As in cron: when both day fields are restricted (neither starts with "*"), either may match.
    either_day: bool

    def matches_day(self, day: date) -> bool:
        """Whether the day-of-month and day-of-week fields allow this date."""
        by_date = day.day in self.days
        by_weekday = (day.weekday() + 1) % 7 in self.weekdays
        return by_date or by_weekday if self.either_day else by_date and by_weekday

    def next_after(self, after: datetime) -> datetime:
        """The first matching minute strictly after `after` (UTC)."""
        moment = _utc(after).replace(second=0, microsecond=0) + timedelta(minutes=1)
        last_year = moment.year + SEARCH_YEARS
        while moment.year <= last_year:
            if moment.month not in self.months:
                later = [month for month in self.months if month > moment.month]
                year = moment.year if later else moment.year + 1
                moment = datetime(year, later[0] if later else self.months[0], 1, tzinfo=UTC)
            elif not self.matches_day(moment.date()):
                moment = _midnight(moment) + timedelta(days=1)
            elif moment.hour not in self.hours:
                later = [hour for hour in self.hours if hour > moment.hour]
                if later:
                    moment = moment.replace(hour=later[0], minute=0)
                else:
                    moment = _midnight(moment) + timedelta(days=1)
            elif moment.minute not in self.minutes:
                later = [minute for minute in self.minutes if minute > moment.minute]
                if later:
                    moment = moment.replace(minute=later[0])
                else:
                    moment = moment.replace(minute=0) + timedelta(hours=1)
            else:
                return moment
        raise ValueError(f"cron {self.text!r} matches no time within {SEARCH_YEARS} years")


@lru_cache(maxsize=256)
def parse_cron(text: str) -> CronExpression:
    """Parse `minute hour day-of-month month day-of-week` (UTC); ValueError names the bad field."""
    parts = text.split()
    if len(parts) != len(FIELDS):
        raise ValueError(
            f"cron must have 5 fields: minute hour day-of-month month day-of-week (got {len(parts)})"
        )
    values = [_parse_field(part, index) for index, part in enumerate(parts)]
    minutes, hours, days, months, weekdays = values
    cron = CronExpression(
        text=text,
        minutes=tuple(sorted(minutes)),
        hours=tuple(sorted(hours)),
        days=frozenset(days),
        months=tuple(sorted(months)),
        weekdays=frozenset(weekday % 7 for weekday in weekdays),
        either_day=not parts[2].startswith("*") and not parts[4].startswith("*"),
    )
    if not cron.either_day and not any(day <= MONTH_DAYS[month - 1] for month in months for day in days):
        raise ValueError(f"cron day-of-month field {parts[2]!r}: no such day in the months {parts[3]!r}")
    return cron


def next_run_at(schedule: Schedule | None, *, after: datetime, default_rate_seconds: int = 3600) -> datetime:
    """The next run strictly after `after`: by the schedule's rate or cron, else every default rate."""
    after = _utc(after)
    if schedule is not None and schedule.cron is not None:
        return parse_cron(schedule.cron).next_after(after)
    rate = schedule.rate_seconds if schedule is not None and schedule.rate_seconds else default_rate_seconds
    if rate < 1:
        raise ValueError("a schedule's rate must be at least 1 second")
    return after + timedelta(seconds=rate)


def failure_backoff(
    consecutive_failures: int, *, base_seconds: int = 60, max_seconds: int = 6 * 3600
) -> timedelta:
    """How long to wait after the n-th consecutive failure: base * 2**(n-1), capped at max_seconds."""
    if consecutive_failures < 1:
        return timedelta(0)
    exponent = min(consecutive_failures - 1, MAX_BACKOFF_EXPONENT)
    return timedelta(seconds=min(base_seconds * 2**exponent, max_seconds))


def _parse_field(text: str, index: int) -> set[int]:
    name = FIELDS[index]
    low, high = BOUNDS[index]
    values: set[int] = set()
    for item in text.split(","):
        span, slash, step_text = item.partition("/")
        step = _number(step_text, index, text) if slash else 1
        if step < 1:
            raise ValueError(f"cron {name} field {text!r}: the step must be at least 1")
        if span == "*":
            # Day of week 7 is Sunday again, so "*" there means 0-6.
            start, end = low, (6 if index == 4 else high)
        elif "-" in span:
            first, _, last = span.partition("-")
            start, end = _number(first, index, text), _number(last, index, text)
            if start > end:
                raise ValueError(f"cron {name} field {text!r}: the range {span!r} runs backwards")
        else:
            start = _number(span, index, text)
            # "a/n" means from a to the end of the field, every n.
            end = high if slash else start
        for value in (start, end):
            if not low <= value <= high:
                raise ValueError(f"cron {name} field {text!r}: {value} is out of range {low}-{high}")
        values.update(range(start, end + 1, step))
    return values


def _number(token: str, index: int, text: str) -> int:
    lowered = token.strip().lower()
    if lowered.isascii() and lowered.isdigit():
        return int(lowered)
    if lowered in NAMES[index]:
        return NAMES[index][lowered]
    raise ValueError(f"cron {FIELDS[index]} field {text!r}: {token!r} is not a number or name")


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)
