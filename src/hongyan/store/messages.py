"""Accepting messages durably, many per transaction (group commit).

Each API request hands its accepted message to the ``MessageWriter`` and waits; a single writer task takes
whatever is waiting (up to ``batch_max``), and in ONE transaction locks the accounts involved, decides
balance per message in arrival order, deducts, inserts the message rows and one ledger row per message,
commits, and only then answers every waiting request. One fsync is shared by the whole batch, which is
what lets a durable Submit be cheap. A failed batch is retried message by message so that one bad row
cannot fail its neighbours, and nothing is ever half-written: a message and its deduction share a commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from hongyan.domain.states import LedgerKind, MessageState
from hongyan.store.clock import now_ms
from hongyan.store.tables import accounts, ledger, messages

log = logging.getLogger(__name__)


@dataclass(slots=True)
class NewMessage:
    smsid: str
    account_id: int
    mobile: str
    carrier: str
    content: str
    signature: str | None
    template_id: int | None
    segments: int


class WriterClosed(RuntimeError):
    """The writer is stopping and takes no more messages."""


_DEDUCT = (
    update(accounts)
    .where(accounts.c.id == bindparam("aid"))
    .values(balance=accounts.c.balance - bindparam("amount"), updated_at=bindparam("now"))
)


class MessageWriter:
    """Group commit of accepted messages with their balance deduction."""

    def __init__(self, engine: AsyncEngine, *, lock_rows: bool, batch_max: int = 512) -> None:
        self._engine = engine
        self._lock_rows = lock_rows  # PostgreSQL: SELECT … FOR UPDATE; SQLite: BEGIN IMMEDIATE already locks
        self._batch_max = batch_max
        self._queue: asyncio.Queue[tuple[NewMessage, asyncio.Future[bool]] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.batches = 0
        self.committed = 0

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="message-writer")

    async def stop(self) -> None:
        """Commit everything already handed in, then stop."""
        self._closed = True
        if self._task is not None:
            await self._queue.put(None)
            await self._task
            self._task = None

    async def write(self, msg: NewMessage) -> bool:
        """Store the message and deduct its segments; False when the balance is short (nothing written)."""
        if self._closed or self._task is None:
            raise WriterClosed("message writer is not running")
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((msg, fut))
        return await asyncio.shield(fut)

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            item = await self._queue.get()
            batch: list[tuple[NewMessage, asyncio.Future[bool]]] = []
            if item is None:
                stopping = True
            else:
                batch.append(item)
            while len(batch) < self._batch_max and not self._queue.empty():
                nxt = self._queue.get_nowait()
                if nxt is None:
                    stopping = True
                    continue
                batch.append(nxt)
            if batch:
                await self._commit_batch(batch)

    async def _commit_batch(self, batch: list[tuple[NewMessage, asyncio.Future[bool]]]) -> None:
        try:
            verdicts = await self._transaction([m for m, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                log.exception("message commit failed", extra={"smsid": batch[0][0].smsid})
                _settle(batch[0][1], exc=exc)
                return
            log.warning("batch of %d failed (%s); retrying one by one", len(batch), exc)
            for one in batch:
                await self._commit_batch([one])
            return
        self.batches += 1
        self.committed += sum(verdicts)
        for (_, fut), ok in zip(batch, verdicts, strict=True):
            _settle(fut, result=ok)

    async def _transaction(self, batch: list[NewMessage]) -> list[bool]:
        now = now_ms()
        account_ids = sorted({m.account_id for m in batch})
        async with self._engine.begin() as conn:
            q = select(accounts.c.id, accounts.c.balance).where(accounts.c.id.in_(account_ids))
            if self._lock_rows:
                q = q.order_by(accounts.c.id).with_for_update()
            balances = {row.id: row.balance for row in await conn.execute(q)}
            verdicts: list[bool] = []
            taken: dict[int, int] = defaultdict(int)
            accepted: list[NewMessage] = []
            for m in batch:
                left = balances.get(m.account_id, 0) - taken[m.account_id]
                ok = left >= m.segments
                verdicts.append(ok)
                if ok:
                    taken[m.account_id] += m.segments
                    accepted.append(m)
            if accepted:
                await conn.execute(_DEDUCT, [{"aid": a, "amount": n, "now": now} for a, n in taken.items()])
                await conn.execute(
                    insert(messages),
                    [
                        {
                            "smsid": m.smsid,
                            "account_id": m.account_id,
                            "mobile": m.mobile,
                            "carrier": m.carrier,
                            "content": m.content,
                            "signature": m.signature,
                            "template_id": m.template_id,
                            "segments": m.segments,
                            "state": MessageState.ACCEPTED.value,
                            "created_at": now,
                            "updated_at": now,
                        }
                        for m in accepted
                    ],
                )
                await conn.execute(
                    insert(ledger),
                    [
                        {
                            "account_id": m.account_id,
                            "kind": LedgerKind.DEDUCT.value,
                            "amount": -m.segments,
                            "smsid": m.smsid,
                            "note": None,
                            "created_at": now,
                        }
                        for m in accepted
                    ],
                )
        return verdicts


def _settle(fut: asyncio.Future[bool], *, result: bool | None = None, exc: BaseException | None = None) -> None:
    if fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(bool(result))
