"""Receipt intake: channels hand in receipts; each is durable (group commit) before the channel acks it.
The receipt sweeper ends messages whose receipt never came (``expired``, refunded, pushed).

Receipts are written through a ``store.txgroup.TxGroup``: the intake's own, or in a process the one it shares with
the dispatcher, so a receipt batch and the dispatcher's records commit together.

Final states and the DLR latency are counted here, from what the store functions return after their commit:
a transaction that rolls back (and is retried) is never counted, and the store stays free of process concerns.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncEngine

from hongyan.channels.base import InReceipt, InReply, InUnparsed
from hongyan.domain.states import MessageState as S
from hongyan.metrics import DLR_LATENCY, MESSAGES_FINAL, RECEIPT_TIMEOUTS
from hongyan.store import delivery
from hongyan.store.batching import GroupCommit
from hongyan.store.clock import now_ms
from hongyan.store.replies import store_reply
from hongyan.store.txgroup import TxGroup, Writer, txgroup_for

log = logging.getLogger(__name__)


def count_finished(finished: Sequence[delivery.Finished]) -> None:
    """Count committed final states by state, and the DLR latency of those a receipt ended."""
    for state, n in Counter(f.state.value for f in finished).items():
        MESSAGES_FINAL.labels(state).inc(n)
    for f in finished:
        latency = f.receipt_latency_s
        if latency is not None:
            DLR_LATENCY.observe(latency)


class ReceiptIntake:
    def __init__(self, engine: AsyncEngine, *, reconcile_s: float = 0.2, group: TxGroup | None = None) -> None:
        self._engine = engine
        self._own_group = group is None
        self._writer: TxGroup = group or txgroup_for(engine, name="receipt-tx")
        self._reconcile_s = reconcile_s
        self._task: asyncio.Task[None] | None = None
        self._group: GroupCommit[delivery.ReceiptIn] = GroupCommit(self._commit, name="receipt-intake")
        # called after a commit that finished messages (their receipt pushes are in the outbox): a pusher in this
        # process leases them at once instead of at its next poll
        self.on_finished: list[Callable[[], None]] = []

    def _finished(self, finished: Sequence[delivery.Finished]) -> None:
        count_finished(finished)
        if finished:
            for callback in self.on_finished:
                callback()

    async def _commit(self, batch: list[delivery.ReceiptIn]) -> None:
        self._finished(await delivery.apply_receipts(self._writer, batch))

    async def start(self) -> None:
        await self._group.start()
        self._task = asyncio.create_task(self._reconcile_loop(), name="receipt-reconcile")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._group.stop()
        if self._own_group:
            await self._writer.close()

    async def _reconcile_loop(self) -> None:
        while True:
            await asyncio.sleep(self._reconcile_s)
            try:
                finished: list[delivery.Finished] = []
                await delivery.reconcile_pending(self._writer, finished=finished)
                self._finished(finished)
            except Exception:
                log.exception("reconciling kept receipts failed")

    async def on_receipt(self, channel: str, receipt: InReceipt) -> None:
        await self._group.put(
            delivery.ReceiptIn(
                channel, receipt.carrier_msg_id, receipt.stat, receipt.err, receipt.done_at, receipt.mobile
            )
        )

    async def on_reply(self, channel: str, reply: InReply) -> None:
        """Durable before the channel acknowledges it (like a receipt)."""
        await store_reply(self._engine, channel=channel, mobile=reply.mobile, text=reply.text, at_ms=reply.received_at)

    async def on_unparsed(self, channel: str, pdu: InUnparsed) -> None:
        """Kept for the operator (``unparsed_deliveries``) before the channel acknowledges it."""
        await delivery.store_unparsed(
            self._writer,
            [
                delivery.UnparsedIn(
                    channel,
                    pdu.command,
                    pdu.source_addr,
                    pdu.destination_addr,
                    pdu.esm_class,
                    pdu.data_coding,
                    pdu.payload.hex(),
                    json.dumps(pdu.tlvs, sort_keys=True),
                    pdu.reason,
                    pdu.received_at,
                )
            ],
        )


class ReceiptSweeper:
    """Every ``every_s``: messages ``submitted`` longer than ``timeout_s`` with no receipt become ``expired``
    (stat ``HY:TIMEOUT``), refunded and pushed, in batches (SKIP LOCKED on PostgreSQL, so any number of
    dispatcher processes may sweep). ``clock`` returns Unix ms (tests pass a fast one)."""

    def __init__(
        self,
        engine: Writer,
        *,
        timeout_s: float,
        every_s: float = 60.0,
        skip_locked: bool,
        batch: int = 500,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._engine = engine
        self._timeout_ms = int(timeout_s * 1000)
        self._every_s = every_s
        self._skip_locked = skip_locked
        self._batch = batch
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self.expired = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="receipt-sweeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def sweep(self) -> int:
        """Expire everything overdue now; returns how many."""
        total = 0
        while True:
            done = await delivery.expire_overdue(
                self._engine,
                timeout_ms=self._timeout_ms,
                skip_locked=self._skip_locked,
                limit=self._batch,
                now=self._clock(),
            )
            total += len(done)
            if len(done) < self._batch:
                break
        if total:
            RECEIPT_TIMEOUTS.inc(total)
            MESSAGES_FINAL.labels(S.EXPIRED.value).inc(total)
            self.expired += total
            log.warning("messages expired without a receipt", extra={"count": total})
        return total

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._every_s)
            try:
                await self.sweep()
            except Exception:
                log.exception("receipt sweep failed")
