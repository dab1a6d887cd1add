"""The push outbox: rows written with the state change that causes them, delivered at least once.

A row is either an ihuyi-style form push (``payload`` = the form fields as a JSON object) or a signed JSON
webhook (``webhook_id`` set, ``payload`` = the exact body, signed afresh at each attempt).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hongyan.domain import webhooks as wh
from hongyan.store import webhooks
from hongyan.store.clock import now_ms
from hongyan.store.prepared import Prepared, run
from hongyan.store.tables import accounts, outbox
from hongyan.store.txgroup import Writer, write

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"


@dataclass(slots=True)  # not frozen: a frozen __init__ costs ~4x; made per message
class Push:
    id: int
    account_id: int
    kind: str
    ref: str
    url: str
    fields: dict[str, str]
    attempts: int
    created_at: int
    webhook_id: str | None = None
    body: str | None = None  # a webhook's JSON body


@dataclass(slots=True)  # not frozen: a frozen __init__ costs ~4x; made per message
class Event:
    """Something an account hears about: a receipt, a reply (MO) or a template review."""

    account_id: int
    kind: str  # receipt | reply | template
    ref: str  # smsid, reply id or template id
    fields: dict[str, str]  # the ihuyi form fields (domain.pushes)
    at_ms: int


_FORM_URL = {"receipt": accounts.c.receipt_url, "reply": accounts.c.reply_url, "template": accounts.c.template_url}
_FORM_URLS = {
    kind: Prepared(select(accounts.c.id, col.label("url")).where(accounts.c.id.in_(bindparam("b_ids", expanding=True))))
    for kind, col in _FORM_URL.items()
}
_INSERT = Prepared(
    insert(outbox),
    column_keys=(
        "account_id",
        "kind",
        "ref",
        "url",
        "payload",
        "webhook_id",
        "state",
        "attempts",
        "next_attempt_at",
        "created_at",
    ),
)


async def enqueue_events(conn: AsyncConnection, events: Sequence[Event]) -> None:
    """Outbox rows for ``events`` inside the caller's transaction: the form push to the account's URL for the
    kind, and the signed JSON webhook when the account has one that wants the event type."""
    if not events:
        return
    ids = {e.account_id for e in events}
    form_urls: dict[tuple[str, int], str] = {}
    for kind in {e.kind for e in events}:
        for r in await run(conn, _FORM_URLS[kind], {"b_ids": sorted(ids)}):
            if r.url:
                form_urls[(kind, r.id)] = r.url
    hooks = await webhooks.for_accounts(conn, ids)
    now = now_ms()
    rows: list[dict[str, Any]] = []
    for e in events:
        if url := form_urls.get((e.kind, e.account_id)):
            rows.append(_row(e.account_id, e.kind, e.ref, url, json.dumps(e.fields, ensure_ascii=False), None, now))
        hook = hooks.get(e.account_id)
        if hook is not None:
            event_type, body = wh.event_for(e.kind, e.ref, e.fields, e.at_ms)
            if wh.wants(hook.events, event_type):
                rows.append(_row(e.account_id, e.kind, e.ref, hook.url, body, wh.new_webhook_id(), now))
    if rows:
        await run(conn, _INSERT, rows)


def _row(account_id: int, kind: str, ref: str, url: str, payload: str, webhook_id: str | None, now: int):
    return {
        "account_id": account_id,
        "kind": kind,
        "ref": ref,
        "url": url,
        "payload": payload,
        "webhook_id": webhook_id,
        "state": PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


async def enqueue(conn: AsyncConnection, rows: Sequence[tuple[int, str, str, str, dict[str, str]]]) -> None:
    """(account_id, kind, ref, url, fields) — inside the caller's transaction."""
    if not rows:
        return
    now = now_ms()
    await conn.execute(
        insert(outbox), [_row(a, k, r, u, json.dumps(f, ensure_ascii=False), None, now) for a, k, r, u, f in rows]
    )


def _on_host(netloc: str):
    """Rows whose URL is on ``netloc`` (the pusher's per-host key), http or https."""
    return or_(
        *(
            cond
            for scheme in ("http", "https")
            for cond in (
                outbox.c.url == f"{scheme}://{netloc}",
                outbox.c.url.startswith(f"{scheme}://{netloc}/", autoescape=True),
                outbox.c.url.startswith(f"{scheme}://{netloc}?", autoescape=True),
            )
        )
    )


@dataclass(frozen=True, slots=True)
class Outcomes:
    """What a pusher did since its last cycle, and what it still holds."""

    delivered: Sequence[int] = ()
    failed: Sequence[tuple[int, int | None, str]] = ()  # (id, next attempt at, error); next None = dead letter
    released: Sequence[int] = ()  # leased rows handed back untried (a full host backlog, or the pusher stopping)
    release_delay_ms: int = 0  # released rows are due again this much later
    renewed: Sequence[int] = ()  # rows still held (queued or in flight): their leases are extended


@dataclass(frozen=True, slots=True)
class Leased:
    pushes: list[Push]
    hooks: dict[int, webhooks.Webhook]  # the webhook settings of the accounts of the webhook pushes leased


async def cycle(
    target: Writer,
    outcomes: Outcomes,
    *,
    owner: str,
    limit: int,
    lease_ms: int,
    skip_locked: bool,
    skip_hosts: Sequence[str] = (),
) -> Leased:
    """One pusher cycle in one transaction: record ``outcomes`` (only on rows ``owner`` still holds), then lease
    up to ``limit`` due rows, oldest first, counting the attempt; ``skip_hosts`` (full backlogs) are left for
    later. One write transaction per cycle instead of one per outcome batch and one per lease: on SQLite every
    transaction waits its turn on the one writer. ``target``: a transaction group (``store.txgroup``: the cycle
    shares the delivery side's transaction, its statements run without a round trip each) or an engine."""
    now = now_ms()

    async def work(conn) -> Leased:
        await _record(conn, owner, outcomes, now, lease_ms)
        if limit <= 0:
            return Leased([], {})
        pushes = await _lease(conn, owner, limit, now, lease_ms, skip_locked, skip_hosts)
        hook_accounts = {p.account_id for p in pushes if p.webhook_id}
        hooks = await webhooks.for_accounts(conn, hook_accounts) if hook_accounts else {}
        return Leased(pushes, hooks)

    return await write(target, work)


_DELIVERED = Prepared(
    update(outbox)
    .where(outbox.c.id.in_(bindparam("b_ids", expanding=True)), outbox.c.lease_owner == bindparam("b_owner"))
    .values(state=DELIVERED, delivered_at=bindparam("b_now"), lease_owner=None, lease_expires_at=None, last_error=None)
)


async def _record(conn: AsyncConnection, owner: str, o: Outcomes, now: int, lease_ms: int) -> None:
    """Mark delivered, schedule the next attempt or dead-letter; hand back and renew leases."""
    held = outbox.c.lease_owner == owner
    for i in range(0, len(o.delivered), 500):
        await run(conn, _DELIVERED, {"b_ids": list(o.delivered[i : i + 500]), "b_owner": owner, "b_now": now})
    if o.failed:
        await conn.execute(
            update(outbox)
            .where(outbox.c.id == bindparam("b_id"), held)
            .values(
                state=bindparam("b_state"),
                next_attempt_at=bindparam("b_next"),
                last_error=bindparam("b_err"),
                lease_owner=None,
                lease_expires_at=None,
            ),
            [
                {"b_id": i, "b_state": PENDING if nxt is not None else DEAD, "b_next": nxt or now, "b_err": err[:500]}
                for i, nxt, err in o.failed
            ],
        )
    if o.released:  # untried: the attempt counted by the lease is taken back
        await conn.execute(
            update(outbox)
            .where(outbox.c.id.in_(list(o.released)), held, outbox.c.state == PENDING)
            .values(
                attempts=outbox.c.attempts - 1,
                next_attempt_at=now + o.release_delay_ms,
                lease_owner=None,
                lease_expires_at=None,
            )
        )
    if o.renewed:
        await conn.execute(
            update(outbox)
            .where(outbox.c.id.in_(list(o.renewed)), held, outbox.c.state == PENDING)
            .values(lease_expires_at=now + lease_ms, next_attempt_at=now + lease_ms)
        )


_LEASED_COLUMNS = (
    outbox.c.id,
    outbox.c.account_id,
    outbox.c.kind,
    outbox.c.ref,
    outbox.c.url,
    outbox.c.payload,
    outbox.c.attempts,
    outbox.c.created_at,
    outbox.c.webhook_id,
)


def _lease_stmt(now: Any, skip_locked: bool, skip_hosts: Sequence[str] = ()) -> Any:
    """Up to ``b_limit`` due rows (not on ``skip_hosts``), oldest first, leased to ``b_owner`` until ``b_expires``
    with the attempt counted, returning ``_LEASED_COLUMNS``. A leased row is next due when its lease ends
    (``next_attempt_at`` = the lease's end, renewed with it), so the due range of the (state, next_attempt_at) index
    holds no row in flight and a lease reads only the rows it takes."""
    due = and_(
        outbox.c.state == PENDING,
        outbox.c.next_attempt_at <= now,
        or_(outbox.c.lease_expires_at.is_(None), outbox.c.lease_expires_at < now),
        *(~_on_host(h) for h in skip_hosts),
    )
    pick = select(outbox.c.id).where(due).order_by(outbox.c.next_attempt_at, outbox.c.id).limit(bindparam("b_limit"))
    if skip_locked:
        pick = pick.with_for_update(skip_locked=True)
    return (
        update(outbox)
        .where(outbox.c.id.in_(pick.scalar_subquery()))
        .values(
            lease_owner=bindparam("b_owner"),
            lease_expires_at=bindparam("b_expires"),
            next_attempt_at=bindparam("b_expires"),
            attempts=outbox.c.attempts + 1,
        )
        .returning(*_LEASED_COLUMNS)
    )


# The lease of every cycle while no host's backlog is full, built once (store.prepared); with hosts to skip, the
# statement is built for the call.
_LEASE = {locked: Prepared(_lease_stmt(bindparam("b_now"), locked)) for locked in (False, True)}


async def _lease(
    conn: AsyncConnection,
    owner: str,
    limit: int,
    now: int,
    lease_ms: int,
    skip_locked: bool,
    skip_hosts: Sequence[str],
) -> list[Push]:
    params = {"b_now": now, "b_limit": limit, "b_owner": owner, "b_expires": now + lease_ms}
    if skip_hosts:
        found = list(await conn.execute(_lease_stmt(bindparam("b_now"), skip_locked, skip_hosts), params))
    else:
        found = await run(conn, _LEASE[skip_locked], params)
    rows = sorted(found, key=lambda r: r.id)
    return [
        Push(r.id, r.account_id, r.kind, r.ref, r.url, {}, r.attempts, r.created_at, r.webhook_id, r.payload)
        if r.webhook_id
        else Push(r.id, r.account_id, r.kind, r.ref, r.url, json.loads(r.payload), r.attempts, r.created_at)
        for r in rows
    ]


async def list_rows(
    conn: AsyncConnection, *, state: str | None = None, account_id: int | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    q = select(outbox).order_by(outbox.c.id.desc()).limit(limit)
    if state:
        q = q.where(outbox.c.state == state)
    if account_id is not None:
        q = q.where(outbox.c.account_id == account_id)
    return [dict(r._mapping) for r in await conn.execute(q)]


async def replay(conn: AsyncConnection, *, account_id: int | None = None, since_ms: int | None = None) -> int:
    """Dead letters back to pending, tried again from now with a fresh schedule."""
    cond = [outbox.c.state == DEAD]
    if account_id is not None:
        cond.append(outbox.c.account_id == account_id)
    if since_ms is not None:
        cond.append(outbox.c.created_at >= since_ms)
    res = await conn.execute(
        update(outbox).where(*cond).values(state=PENDING, attempts=0, next_attempt_at=now_ms(), last_error=None)
    )
    return res.rowcount
