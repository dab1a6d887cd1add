"""Per-account signed JSON webhooks: URL, event selection, secrets (encrypted by the caller, like API keys)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hongyan.store.clock import now_ms
from hongyan.store.prepared import Prepared, run
from hongyan.store.tables import webhooks


@dataclass(frozen=True, slots=True)
class Webhook:
    account_id: int
    url: str
    events: str  # comma-separated; empty = all
    secret_enc: str
    previous_secret_enc: str | None
    previous_until: int | None


def _row(r) -> Webhook:
    return Webhook(r.account_id, r.url, r.events, r.secret_enc, r.previous_secret_enc, r.previous_until)


async def get(conn: AsyncConnection, account_id: int) -> Webhook | None:
    r = (await conn.execute(select(webhooks).where(webhooks.c.account_id == account_id))).one_or_none()
    return _row(r) if r is not None else None


_FOR_ACCOUNTS = Prepared(select(webhooks).where(webhooks.c.account_id.in_(bindparam("b_ids", expanding=True))))


async def for_accounts(conn: AsyncConnection, account_ids: Iterable[int]) -> dict[int, Webhook]:
    ids = set(account_ids)
    if not ids:
        return {}
    return {r.account_id: _row(r) for r in await run(conn, _FOR_ACCOUNTS, {"b_ids": sorted(ids)})}


async def put(conn: AsyncConnection, account_id: int, *, url: str, events: str, secret_enc: str | None) -> None:
    """Create (``secret_enc`` required) or update the URL and events (and the secret when given, no grace)."""
    now = now_ms()
    values: dict[str, object] = {"url": url, "events": events, "updated_at": now}
    if secret_enc is not None:
        values.update(secret_enc=secret_enc, previous_secret_enc=None, previous_until=None)
    res = await conn.execute(update(webhooks).where(webhooks.c.account_id == account_id).values(**values))
    if res.rowcount == 0:
        if secret_enc is None:
            raise ValueError("a new webhook needs a secret")
        await conn.execute(insert(webhooks).values(account_id=account_id, created_at=now, **values))


async def rotate(conn: AsyncConnection, account_id: int, secret_enc: str, *, grace_ms: int) -> bool:
    """New secret; the current one keeps signing (beside it) for ``grace_ms``. False when there is no webhook."""
    now = now_ms()
    res = await conn.execute(
        update(webhooks)
        .where(webhooks.c.account_id == account_id)
        .values(
            previous_secret_enc=webhooks.c.secret_enc if grace_ms > 0 else None,
            previous_until=now + grace_ms if grace_ms > 0 else None,
            secret_enc=secret_enc,
            updated_at=now,
        )
    )
    return res.rowcount > 0


async def remove(conn: AsyncConnection, account_id: int) -> bool:
    return (await conn.execute(delete(webhooks).where(webhooks.c.account_id == account_id))).rowcount > 0
