"""Push administration: list (dead letters), replay; signed JSON webhooks (set, rotate, show, remove)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from hongyan.domain import webhooks as wh
from hongyan.services.platform import Platform
from hongyan.store import outbox, webhooks
from hongyan.store.accounts import get_account


def parse_since(since: str | None) -> int | None:
    """``2026-11-25``, ``2026-11-25T08:00`` (Beijing time when no offset) or Unix seconds → Unix ms."""
    if not since:
        return None
    if since.isdigit():
        return int(since) * 1000
    from hongyan.domain.pushes import BEIJING

    try:
        dt = datetime.fromisoformat(since)
    except ValueError as exc:
        raise ValueError("--since takes a date, an ISO time or Unix seconds") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=BEIJING)
    return int(dt.timestamp() * 1000)


async def list_pushes(platform: Platform, *, state: str | None, api_id: str | None, limit: int) -> list[dict[str, Any]]:
    async with platform.engines.read.connect() as conn:
        account_id = (await get_account(conn, api_id)).id if api_id else None
        return await outbox.list_rows(conn, state=state, account_id=account_id, limit=limit)


async def replay(platform: Platform, *, api_id: str | None, since: str | None) -> int:
    since_ms = parse_since(since)
    async with platform.engines.write.begin() as conn:
        account_id = (await get_account(conn, api_id)).id if api_id else None
        return await outbox.replay(conn, account_id=account_id, since_ms=since_ms)


# --- signed JSON webhooks ------------------------------------------------------------------------


async def set_webhook(
    platform: Platform, api_id: str, *, url: str, events: str | list[str] | None = None
) -> dict[str, Any]:
    """Create or change an account's webhook. A new webhook gets a secret, returned once (``secret``);
    changing the URL or events of an existing one keeps its secret (``secret`` is None)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("a webhook URL must be http(s)://host/…")  # private targets: refused when pushing
    selection = wh.parse_events(events)
    async with platform.engines.write.begin() as conn:
        account_id = (await get_account(conn, api_id)).id
        existing = await webhooks.get(conn, account_id)
        secret = wh.new_secret() if existing is None else None
        await webhooks.put(
            conn,
            account_id,
            url=url,
            events=selection if events is not None or existing is None else existing.events,
            secret_enc=platform.keybox.encrypt(secret) if secret else None,
        )
    return {**await get_webhook(platform, api_id), "secret": secret}


async def rotate_webhook_secret(platform: Platform, api_id: str, *, grace_s: int = 86_400) -> str:
    """A new secret (returned once); the old one keeps signing beside it for ``grace_s`` so receivers can
    switch over without dropping a push."""
    secret = wh.new_secret()
    async with platform.engines.write.begin() as conn:
        account_id = (await get_account(conn, api_id)).id
        if not await webhooks.rotate(conn, account_id, platform.keybox.encrypt(secret), grace_ms=grace_s * 1000):
            raise ValueError(f"account {api_id} has no webhook")
    return secret


async def get_webhook(platform: Platform, api_id: str, *, reveal: bool = False) -> dict[str, Any]:
    async with platform.engines.read.connect() as conn:
        account_id = (await get_account(conn, api_id)).id
        hook = await webhooks.get(conn, account_id)
    if hook is None:
        return {"account": api_id, "url": None}
    out: dict[str, Any] = {
        "account": api_id,
        "url": hook.url,
        "events": hook.events.split(",") if hook.events else list(wh.EVENT_TYPES),
        "previous_secret_until": hook.previous_until,
    }
    if reveal:
        out["secret"] = platform.keybox.decrypt(hook.secret_enc)
    return out


async def remove_webhook(platform: Platform, api_id: str) -> bool:
    async with platform.engines.write.begin() as conn:
        return await webhooks.remove(conn, (await get_account(conn, api_id)).id)
