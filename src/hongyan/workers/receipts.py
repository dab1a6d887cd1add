"""Receipt intake: channels hand in receipts; each is durable (group commit) before the channel acks it."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from hongyan.channels.base import InReceipt, InReply
from hongyan.store import delivery
from hongyan.store.batching import GroupCommit


class ReceiptIntake:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._group: GroupCommit[delivery.ReceiptIn] = GroupCommit(self._commit, name="receipt-intake")
        self.replies: list[InReply] = []  # replies (MO) are stored by the replies issue; kept here until then

    async def _commit(self, batch: list[delivery.ReceiptIn]) -> None:
        await delivery.apply_receipts(self._engine, batch)

    async def start(self) -> None:
        await self._group.start()

    async def stop(self) -> None:
        await self._group.stop()

    async def on_receipt(self, channel: str, receipt: InReceipt) -> None:
        await self._group.put(
            delivery.ReceiptIn(channel, receipt.carrier_msg_id, receipt.stat, receipt.err, receipt.done_at)
        )

    async def on_reply(self, channel: str, reply: InReply) -> None:
        self.replies.append(reply)
