"""Instants and calendar dates without a clock (``sdk/src/time.rs``).

``now`` and the tenant's UTC offset arrive in the context. An instant is
an int of milliseconds since the Unix epoch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MS_PER_DAY = 86_400_000
MS_PER_MINUTE = 60_000


def days_since(later: int, earlier: int) -> int:
    """Whole days from ``earlier`` to ``later``, rounded down."""
    return (later - earlier) // MS_PER_DAY


def plus_days(at: int, days: int) -> int:
    """``at`` moved by ``days`` whole days."""
    return at + days * MS_PER_DAY


@dataclass(frozen=True, order=True)
class LocalDate:
    """A calendar date."""

    year: int
    month: int
    day: int

    @staticmethod
    def from_days_since_epoch(days: int) -> LocalDate:
        """The date ``days`` after 1970-01-01 (Howard Hinnant's civil_from_days)."""
        z = days + 719_468
        era = z // 146_097
        doe = z - era * 146_097
        yoe = (doe - doe // 1_460 + doe // 36_524 - doe // 146_096) // 365
        doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
        mp = (5 * doy + 2) // 153
        day = doy - (153 * mp + 2) // 5 + 1
        month = mp + 3 if mp < 10 else mp - 9
        return LocalDate(yoe + era * 400 + (1 if month <= 2 else 0), month, day)

    def __str__(self) -> str:
        return f"{self.year:04}-{self.month:02}-{self.day:02}"


def local_date(at: int, tz_offset_minutes: int) -> LocalDate:
    """The date at ``at`` in a zone ``tz_offset_minutes`` from UTC."""
    return LocalDate.from_days_since_epoch((at + tz_offset_minutes * MS_PER_MINUTE) // MS_PER_DAY)


def end_of_local_day(at: int, tz_offset_minutes: int) -> int:
    """The first instant of the next local day: when "today" ends."""
    offset = tz_offset_minutes * MS_PER_MINUTE
    return ((at + offset) // MS_PER_DAY + 1) * MS_PER_DAY - offset


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if (year % 4 == 0 and year % 100 != 0) or year % 400 == 0 else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _days_from_civil(year: int, month: int, day: int) -> int:
    y = year - 1 if month <= 2 else year
    era = y // 400
    yoe = y - era * 400
    doy = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468


_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)


def parse_rfc3339(text: str) -> int | None:
    """An RFC 3339 date-time in milliseconds (fractions past ms dropped), or None."""
    m = _RFC3339.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    if not 1 <= month <= 12 or not 1 <= day <= _days_in_month(year, month):
        return None
    if hour > 23 or minute > 59 or second > 60:
        return None
    millis = int((m.group(7) or "")[:3].ljust(3, "0"))
    offset = 0
    if m.group(8) is None:
        h, mm = int(m.group(10)), int(m.group(11))
        if h > 23 or mm > 59:
            return None
        offset = (-1 if m.group(9) == "-" else 1) * (h * 60 + mm)
    seconds = _days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second - offset * 60
    return seconds * 1_000 + millis
