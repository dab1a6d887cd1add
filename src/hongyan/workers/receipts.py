"""Receipt intake: channels hand in receipts; each is durable (group commit) before the channel acks it."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from hongyan.channels.base import InReceipt, InReply
from hongyan.store import delivery
from hongyan.store.batching import GroupCommit
from hongyan.store.replies import store_reply

log = logging.getLogger(__name__)


class ReceiptIntake:
    def __init__(self, engine: AsyncEngine, *, reconcile_s: float = 0.2) -> None:
        self._engine = engine
        self._reconcile_s = reconcile_s
        self._task: asyncio.Task[None] | None = None
        self._group: GroupCommit[delivery.ReceiptIn] = GroupCommit(self._commit, name="receipt-intake")

    async def _commit(self, batch: list[delivery.ReceiptIn]) -> None:
        await delivery.apply_receipts(self._engine, batch)

    async def start(self) -> None:
        await self._group.start()
        self._task = asyncio.create_task(self._reconcile_loop(), name="receipt-reconcile")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._group.stop()

    async def _reconcile_loop(self) -> None:
        while True:
            await asyncio.sleep(self._reconcile_s)
            try:
                await delivery.reconcile_pending(self._engine)
            except Exception:
                log.exception("reconciling kept receipts failed")

    async def on_receipt(self, channel: str, receipt: InReceipt) -> None:
        await self._group.put(
            delivery.ReceiptIn(channel, receipt.carrier_msg_id, receipt.stat, receipt.err, receipt.done_at)
        )

    async def on_reply(self, channel: str, reply: InReply) -> None:
        """Durable before the channel acknowledges it (like a receipt)."""
        await store_reply(self._engine, channel=channel, mobile=reply.mobile, text=reply.text, at_ms=reply.received_at)
