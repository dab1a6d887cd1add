"""What the ihuyi-style pushes carry (SPEC.md §5–6) and when a receiver has accepted one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

BEIJING = timezone(timedelta(hours=8))
DELIVERED_STAT = "DELIVRD"


def beijing_time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def receipt_fields(*, mobile: str, smsid: str, stat: str, at_ms: int) -> dict[str, str]:
    """Receipt push: ``code`` 2 when delivered, otherwise 0 (a failure; the raw status is in ``msg``)."""
    return {
        "code": "2" if stat == DELIVERED_STAT else "0",
        "msg": stat,
        "mobilephone": mobile,
        "smsid": smsid,
        "report_time": beijing_time(at_ms),
    }


def reply_fields(*, mobile: str, content: str, smsid: str | None, at_ms: int) -> dict[str, str]:
    return {"mobilephone": mobile, "content": content, "smsid": smsid or "", "reply_time": beijing_time(at_ms)}


def template_fields(*, template_id: int, approved: bool, reason: str | None) -> dict[str, str]:
    return {
        "code": "2" if approved else "0",
        "msg": reason or ("审核通过" if approved else "审核未通过"),
        "templateid": str(template_id),
    }


def accepted(status: int, body: bytes) -> bool:
    """The receiver took it: a 2xx answer whose body is ``success`` (whitespace trimmed)."""
    return 200 <= status < 300 and body.strip() == b"success"
