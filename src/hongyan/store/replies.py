"""Replies (MO): stored, matched to the message replied to, unsubscribes, and the reply push — one transaction."""

from __future__ import annotations

from sqlalchemy import desc, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hongyan.domain.pushes import reply_fields
from hongyan.store import blacklist, outbox
from hongyan.store.clock import now_ms
from hongyan.store.tables import messages, replies

UNSUBSCRIBE = {"TD", "T", "退订", "R", "N", "取消"}


def is_unsubscribe(text: str) -> bool:
    return text.strip().upper() in UNSUBSCRIBE


async def store_reply(engine: AsyncEngine, *, channel: str, mobile: str, text: str, at_ms: int | None = None) -> int:
    """Match the reply to the newest message sent to that number (on that channel when known), store it,
    list the number as unsubscribed for TD/T/退订/R, and queue the reply push. Returns the reply id."""
    at_ms = at_ms or now_ms()
    national = mobile[-11:] if mobile.startswith("86") and len(mobile) == 13 else mobile
    async with engine.begin() as conn:
        last = (
            await conn.execute(
                select(messages.c.smsid, messages.c.account_id)
                .where(messages.c.mobile == national)
                .order_by(desc(messages.c.channel == channel), desc(messages.c.id))
                .limit(1)
            )
        ).first()
        account_id, smsid = (last.account_id, last.smsid) if last else (None, None)
        reply_id = (
            await conn.execute(
                insert(replies).returning(replies.c.id),
                {
                    "account_id": account_id,
                    "mobile": national,
                    "content": text,
                    "smsid": smsid,
                    "channel": channel,
                    "received_at": at_ms,
                },
            )
        ).scalar_one()
        if account_id is None:
            return reply_id
        if is_unsubscribe(text):
            await blacklist.add(conn, national, account_id, "unsubscribe", f"reply {text.strip()}")
        fields = reply_fields(mobile=national, content=text, smsid=smsid, at_ms=at_ms)
        await outbox.enqueue_events(conn, [outbox.Event(account_id, "reply", str(reply_id), fields, at_ms)])
    return reply_id
