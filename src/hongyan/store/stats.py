"""Reports for the console: overview numbers, charts, send-record search and export, replies.

Every function takes ``account_id``: an int scopes the query to that account (a customer's pages must always
pass one), ``None`` means system-wide (operator pages only). Times are Unix ms; days are Beijing days.
Per-account queries use ``ix_messages_account_id_created_at``, system-wide ones ``ix_messages_created_at``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hongyan.domain.carrier_status import describe
from hongyan.domain.csv_safe import csv_line
from hongyan.domain.days import DAY_MS, day_label, day_number, day_start, format_time, minute_label
from hongyan.domain.labels import FAILED_STATES, FINAL_STATES, carrier_label, state_label, states_for
from hongyan.domain.states import MessageState
from hongyan.store.tables import accounts, messages, replies

_OFFSET_MS = 8 * 3_600_000
MINUTE_MS = 60_000


def _scope(account_id: int | None, column=messages.c.account_id) -> list[Any]:
    return [] if account_id is None else [column == account_id]


def _counts():
    """sent, delivered, failed (final failures), finished (any final state) as aggregate columns."""
    return (
        func.count().label("sent"),
        func.sum(case((messages.c.state == MessageState.DELIVERED.value, 1), else_=0)).label("delivered"),
        func.sum(case((messages.c.state.in_(sorted(FAILED_STATES)), 1), else_=0)).label("failed"),
        func.sum(case((messages.c.state.in_(sorted(FINAL_STATES)), 1), else_=0)).label("finished"),
        func.coalesce(func.sum(messages.c.segments), 0).label("segments"),
    )


@dataclass(frozen=True, slots=True)
class Summary:
    """One period's numbers. ``delivery_rate`` is delivered / finished (None before any final state):
    messages still on their way do not count against it."""

    sent: int
    segments: int
    delivered: int
    failed: int
    pending: int
    delivery_rate: float | None


async def today(conn: AsyncConnection, account_id: int | None, now_ms: int) -> Summary:
    """Messages accepted since 00:00 Beijing time today."""
    start = day_start(now_ms)
    cond = [*_scope(account_id), messages.c.created_at >= start, messages.c.created_at < start + DAY_MS]
    row = (await conn.execute(select(*_counts()).where(*cond))).one()
    sent, delivered, finished = int(row.sent), int(row.delivered or 0), int(row.finished or 0)
    return Summary(
        sent=sent,
        segments=int(row.segments or 0),
        delivered=delivered,
        failed=int(row.failed or 0),
        pending=sent - finished,
        delivery_rate=(delivered / finished) if finished else None,
    )


async def daily_series(
    conn: AsyncConnection, account_id: int | None, now_ms: int, days: int = 7
) -> list[dict[str, Any]]:
    """``days`` Beijing days ending today, oldest first: ``{day, sent, delivered, failed}`` (zeros included)."""
    first = day_start(now_ms) - (days - 1) * DAY_MS
    bucket = ((messages.c.created_at + _OFFSET_MS) // DAY_MS).label("day")
    q = (
        select(bucket, *_counts())
        .where(*_scope(account_id), messages.c.created_at >= first, messages.c.created_at < first + days * DAY_MS)
        .group_by(bucket)
    )
    found = {int(r.day): r for r in await conn.execute(q)}
    out = []
    for n in range(day_number(first), day_number(first) + days):
        r = found.get(n)
        out.append(
            {
                "day": day_label(n),
                "sent": int(r.sent) if r else 0,
                "delivered": int(r.delivered or 0) if r else 0,
                "failed": int(r.failed or 0) if r else 0,
            }
        )
    return out


async def carrier_split(
    conn: AsyncConnection, account_id: int | None, since_ms: int, until_ms: int | None = None
) -> list[dict[str, Any]]:
    """Messages per carrier in [since, until), biggest first: ``{carrier, label, count}``."""
    cond = [*_scope(account_id), messages.c.created_at >= since_ms]
    if until_ms is not None:
        cond.append(messages.c.created_at < until_ms)
    q = select(messages.c.carrier, func.count().label("n")).where(*cond).group_by(messages.c.carrier)
    rows = sorted(((r.carrier, int(r.n)) for r in await conn.execute(q)), key=lambda t: (-t[1], t[0]))
    return [{"carrier": c, "label": carrier_label(c), "count": n} for c, n in rows]


async def per_minute(conn: AsyncConnection, account_id: int | None, now_ms: int, minutes: int = 60) -> dict[str, Any]:
    """Messages accepted in each of the last ``minutes`` minutes (the current one last), split by the state
    they are in now: ``{"labels": ["HH:MM", …], "series": {state: [count, …]}}`` (every state, zeros included)."""
    end = now_ms // MINUTE_MS * MINUTE_MS + MINUTE_MS
    start = end - minutes * MINUTE_MS
    bucket = (messages.c.created_at // MINUTE_MS).label("minute")
    q = (
        select(bucket, messages.c.state, func.count().label("n"))
        .where(*_scope(account_id), messages.c.created_at >= start, messages.c.created_at < end)
        .group_by(bucket, messages.c.state)
    )
    first = start // MINUTE_MS
    series = {s.value: [0] * minutes for s in MessageState}
    for r in await conn.execute(q):
        series.setdefault(r.state, [0] * minutes)[int(r.minute) - first] += int(r.n)
    return {"labels": [minute_label((first + i) * MINUTE_MS) for i in range(minutes)], "series": series}


# --- send records -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordFilter:
    """Search terms; all optional. ``status``: a state, ``pending`` or ``failed``. ``end_ms`` is exclusive."""

    mobile: str | None = None
    smsid: str | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    status: str | None = None

    def conditions(self) -> list[Any]:
        cond: list[Any] = []
        if self.mobile:
            cond.append(messages.c.mobile == self.mobile.strip())
        if self.smsid:
            cond.append(messages.c.smsid == self.smsid.strip())
        if self.start_ms is not None:
            cond.append(messages.c.created_at >= self.start_ms)
        if self.end_ms is not None:
            cond.append(messages.c.created_at < self.end_ms)
        if self.status:
            cond.append(messages.c.state.in_(sorted(states_for(self.status))))
        return cond


_RECORD_COLUMNS = (
    messages.c.id,
    messages.c.smsid,
    accounts.c.api_id,
    messages.c.mobile,
    messages.c.carrier,
    messages.c.content,
    messages.c.segments,
    messages.c.state,
    messages.c.carrier_status,
    messages.c.channel,
    messages.c.created_at,
    messages.c.done_at,
)


def _record(r: Any) -> dict[str, Any]:
    status = r.carrier_status or ""
    info = describe(status) if status else None
    return {
        "smsid": r.smsid,
        "account": r.api_id,
        "mobile": r.mobile,
        "carrier": r.carrier,
        "carrier_label": carrier_label(r.carrier),
        "content": r.content,
        "segments": r.segments,
        "state": r.state,
        "state_label": state_label(r.state),
        "carrier_status": status,
        "carrier_meaning": info.meaning if info else "",
        "carrier_advice": info.advice if info else "",
        "channel": r.channel or "",
        "created_at": r.created_at,
        "done_at": r.done_at,
    }


@dataclass(frozen=True, slots=True)
class RecordPage:
    rows: list[dict[str, Any]]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def _records_query(account_id: int | None, f: RecordFilter):
    return (
        select(*_RECORD_COLUMNS)
        .select_from(messages.join(accounts, accounts.c.id == messages.c.account_id))
        .where(*_scope(account_id), *f.conditions())
    )


async def search_records(
    conn: AsyncConnection, account_id: int | None, f: RecordFilter, *, page: int = 1, per_page: int = 20
) -> RecordPage:
    """One page of messages matching ``f``, newest first, with the carrier status and its meaning."""
    page, per_page = max(1, page), max(1, min(per_page, 200))
    total = int(
        (
            await conn.execute(select(func.count()).select_from(messages).where(*_scope(account_id), *f.conditions()))
        ).scalar_one()
    )
    q = (
        _records_query(account_id, f)
        .order_by(messages.c.created_at.desc(), messages.c.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return RecordPage([_record(r) for r in await conn.execute(q)], page, per_page, total)


EXPORT_HEADER = (
    "smsid",
    "账号",
    "手机号",
    "运营商",
    "内容",
    "计费条数",
    "状态",
    "运营商状态码",
    "状态说明",
    "提交时间",
    "完成时间",
)


async def export_csv(
    engine: AsyncEngine, account_id: int | None, f: RecordFilter, *, batch: int = 1000, limit: int = 100_000
) -> AsyncIterator[str]:
    """CSV lines (header first) of the matching messages, newest first, at most ``limit``. Read in keyset
    batches, each on a short-lived connection, so a long download never holds a connection or a snapshot."""
    yield "\ufeff" + csv_line(EXPORT_HEADER)  # BOM: Excel opens UTF-8 Chinese correctly
    after: tuple[int, int] | None = None
    sent = 0
    while sent < limit:
        q = _records_query(account_id, f)
        if after is not None:
            q = q.where(
                or_(
                    messages.c.created_at < after[0],
                    and_(messages.c.created_at == after[0], messages.c.id < after[1]),
                )
            )
        q = q.order_by(messages.c.created_at.desc(), messages.c.id.desc()).limit(min(batch, limit - sent))
        async with engine.connect() as conn:
            rows = list(await conn.execute(q))
        if not rows:
            return
        for r in rows:
            d = _record(r)
            yield csv_line(
                (
                    d["smsid"],
                    d["account"],
                    d["mobile"],
                    d["carrier_label"],
                    d["content"],
                    d["segments"],
                    d["state_label"],
                    d["carrier_status"],
                    d["carrier_meaning"],
                    format_time(d["created_at"]),
                    format_time(d["done_at"]),
                )
            )
        sent += len(rows)
        after = (rows[-1].created_at, rows[-1].id)


# --- replies (MO) ------------------------------------------------------------------------------------


async def list_replies(
    conn: AsyncConnection,
    account_id: int | None,
    *,
    mobile: str | None = None,
    page: int = 1,
    per_page: int = 20,
) -> RecordPage:
    """Replies, newest first; with an account only that account's (unmatched replies have no account)."""
    page, per_page = max(1, page), max(1, min(per_page, 200))
    cond = _scope(account_id, replies.c.account_id)
    if mobile:
        cond.append(replies.c.mobile == mobile.strip())
    total = int((await conn.execute(select(func.count()).select_from(replies).where(*cond))).scalar_one())
    q = (
        select(
            replies.c.id,
            replies.c.mobile,
            replies.c.content,
            replies.c.smsid,
            replies.c.channel,
            replies.c.received_at,
            accounts.c.api_id,
        )
        .select_from(replies.outerjoin(accounts, accounts.c.id == replies.c.account_id))
        .where(*cond)
        .order_by(replies.c.received_at.desc(), replies.c.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    rows = [
        {
            "id": r.id,
            "account": r.api_id,
            "mobile": r.mobile,
            "content": r.content,
            "smsid": r.smsid or "",
            "channel": r.channel,
            "received_at": r.received_at,
        }
        for r in await conn.execute(q)
    ]
    return RecordPage(rows, page, per_page, total)


# --- delivery activity (operators' channel page) ---------------------------------------------------------


async def queue_depth(conn: AsyncConnection) -> dict[str, int]:
    """Messages waiting for a channel: ``accepted`` (not leased yet) and ``queued`` (leased, being submitted)."""
    q = (
        select(messages.c.state, func.count().label("n"))
        .where(messages.c.state.in_([MessageState.ACCEPTED.value, MessageState.QUEUED.value]))
        .group_by(messages.c.state)
    )
    out = {MessageState.ACCEPTED.value: 0, MessageState.QUEUED.value: 0}
    out.update({r.state: int(r.n) for r in await conn.execute(q)})
    return out


async def channel_activity(conn: AsyncConnection, now_ms: int, window_ms: int = 60_000) -> dict[str, dict[str, int]]:
    """Per channel: messages submitted in the last ``window_ms`` and messages still awaiting their receipt."""
    out: dict[str, dict[str, int]] = {}
    recent = (
        select(messages.c.channel, func.count().label("n"))
        .where(
            messages.c.created_at >= now_ms - max(window_ms, 3_600_000),  # bounds the scan (ix_messages_created_at)
            messages.c.submitted_at >= now_ms - window_ms,
            messages.c.channel.is_not(None),
        )
        .group_by(messages.c.channel)
    )
    for r in await conn.execute(recent):
        out.setdefault(r.channel, {"recent": 0, "awaiting": 0})["recent"] = int(r.n)
    awaiting = (
        select(messages.c.channel, func.count().label("n"))
        .where(messages.c.state == MessageState.SUBMITTED.value, messages.c.channel.is_not(None))
        .group_by(messages.c.channel)
    )
    for r in await conn.execute(awaiting):
        out.setdefault(r.channel, {"recent": 0, "awaiting": 0})["awaiting"] = int(r.n)
    return out
