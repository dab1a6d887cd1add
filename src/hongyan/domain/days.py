"""Beijing calendar days in Unix milliseconds: the day boundaries of reports and charts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

BEIJING = timezone(timedelta(hours=8))
DAY_MS = 86_400_000
_OFFSET_MS = 8 * 3_600_000  # Beijing has no daylight saving time: a fixed UTC+8


def day_start(ms: int) -> int:
    """Unix ms of 00:00 Beijing time on the day containing ``ms``."""
    return (ms + _OFFSET_MS) // DAY_MS * DAY_MS - _OFFSET_MS


def day_number(ms: int) -> int:
    """Days since 1970-01-01 Beijing time: the bucket SQL computes as ``(created_at + 8 h) / 1 day``."""
    return (ms + _OFFSET_MS) // DAY_MS


def day_label(day: int) -> str:
    """``YYYY-MM-DD`` of a ``day_number``."""
    return datetime.fromtimestamp(day * 86_400, tz=UTC).strftime("%Y-%m-%d")


def minute_label(ms: int) -> str:
    """``HH:MM`` Beijing time."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(BEIJING).strftime("%H:%M")


def format_time(ms: int | None) -> str:
    """``YYYY-MM-DD HH:MM:SS`` Beijing time, or empty."""
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def parse_day(text: str) -> int:
    """``YYYY-MM-DD`` (a Beijing day) → Unix ms of its start; ValueError when malformed."""
    dt = datetime.strptime(text.strip(), "%Y-%m-%d").replace(tzinfo=BEIJING)
    return int(dt.timestamp() * 1000)
