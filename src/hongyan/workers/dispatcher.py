"""The dispatcher: lease due messages, route each to a channel, submit, record the outcome in batches.

Outcomes are buffered and written in one transaction as soon as there are any and the previous one has committed
(``flush_s`` adds a delay; default none: outcomes batch up while a transaction is in flight), and the leases of
messages still in flight are renewed, so a slow channel never lets a lease expire under a live worker. Every write
goes through a ``store.txgroup.TxGroup`` (by default the dispatcher's own; in a process, the one it shares with the
receipt intake), so leases, marks, outcomes and receipts that are ready together share one commit. Any number of
dispatchers can run on PostgreSQL (SKIP LOCKED leases); on SQLite run one.

Right before a message's first submit_sm leaves (the channel calls ``OutMessage.before_send`` holding its window
slot), the message is marked ``submit_started_at`` in a batched commit. If this worker dies, a message that is
leased again with the mark set was in flight at the death: it is sent again (at-least-once for that window,
never lost) with an audit event and a metric; every other message is sent exactly once. See
docs/decisions/0002-submit-crash-window.md.

A message that waits on a throttled or backed-up channel past its failover bound moves to another available
channel (the channel asks ``OutMessage.elsewhere``); with none available it keeps waiting where it is.

Each message routes in its account's channel group, looked up in ``account_groups`` (account id → group, kept by
the runtime with the channel reload), so routing costs no query per message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from hongyan.channels.base import InDoubt, LeaseLost, OutMessage, Permanent, Transient
from hongyan.domain.retry import RetryPolicy
from hongyan.domain.states import MessageState as S
from hongyan.metrics import CHANNEL_SUBMITS, INTERRUPTED_SUBMITS, MESSAGES_FINAL, RECONCILED_SUBMITS
from hongyan.smpp.encoding import MessageTooLong, count_parts
from hongyan.store import delivery
from hongyan.store.clock import now_ms
from hongyan.store.tables import messages
from hongyan.store.txgroup import TxGroup, txgroup_for, write
from hongyan.workers.receipts import count_finished
from hongyan.workers.routing import DEFAULT_GROUP, Router

log = logging.getLogger(__name__)


@dataclass
class DispatcherStats:
    leased: int = 0
    submitted: int = 0
    retried: int = 0
    failed: int = 0
    failovers: int = 0
    interrupted: int = 0  # a dead worker had them in flight, no receipt came: sent again (possible duplicates)
    reconciled: int = 0  # a dead worker had them in flight, their receipts came: recorded, not sent again
    lease_lost: int = 0
    in_doubt: int = 0  # the connection went with their submit on the wire: left to be settled from receipts


@dataclass
class _Outcomes:
    submitted: list[delivery.Submitted] = field(default_factory=list)
    retry: dict[int, list[str]] = field(default_factory=dict)  # next_attempt_at → smsids
    retry_errors: dict[str, str] = field(default_factory=dict)
    failed: list[tuple[str, S, str]] = field(default_factory=list)
    in_doubt: dict[str, str] = field(default_factory=dict)  # smsid → error: on the wire when the connection went

    def empty(self) -> bool:
        return not (self.submitted or self.retry or self.failed or self.in_doubt)


class Dispatcher:
    def __init__(
        self,
        engine: AsyncEngine,
        router: Router,
        *,
        skip_locked: bool,
        owner: str | None = None,
        batch: int = 256,
        max_inflight: int = 2000,
        lease_ms: int = 60_000,
        poll_s: float = 0.05,
        flush_s: float = 0.0,
        retry: RetryPolicy | None = None,
        account_groups: Mapping[int, str] | None = None,
        interrupted_wait_ms: int = 60_000,
        group: TxGroup | None = None,
    ) -> None:
        self._own_group = group is None
        self._writer: TxGroup = group or txgroup_for(engine, name="dispatcher-tx")
        self.router = router
        self.account_groups: Mapping[int, str] = account_groups or {}  # replaced whole by the runtime's reload
        self._skip_locked = skip_locked
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._batch = batch
        self._max_inflight = max_inflight
        self._lease_ms = lease_ms
        self._poll_s = poll_s
        self._flush_s = flush_s
        self._retry = retry or RetryPolicy()
        self._interrupted_wait_ms = interrupted_wait_ms
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._out = _Outcomes()
        self._out_ready = asyncio.Event()  # outcomes are waiting to be recorded
        self._wake = asyncio.Event()
        # called after a commit that finished messages (receipts that came before their submit was recorded,
        # failures): their pushes are in the outbox, and a pusher in this process leases them at once
        self.on_finished: list[Callable[[], None]] = []
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._intents: list[tuple[str, str, asyncio.Future[bool]]] = []
        self._intent_wake = asyncio.Event()
        self.stats = DispatcherStats()

    def wake(self) -> None:
        """New messages were accepted in this process: look now instead of at the next poll."""
        self._wake.set()

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._lease_loop(), name="dispatcher-lease"),
            asyncio.create_task(self._flush_loop(), name="dispatcher-flush"),
            asyncio.create_task(self._intent_loop(), name="dispatcher-intent"),
        ]

    async def stop(self) -> None:
        """Stop leasing, let in-flight submits finish, record their outcomes, release nothing half-done."""
        self._stopping.set()
        self._wake.set()
        if self._tasks:
            # The lease loop ends its round rather than being cancelled: a lease handed to the transaction group
            # commits even if its caller goes, and its messages must then be sent, not left leased to nobody.
            with contextlib.suppress(asyncio.CancelledError):
                await self._tasks[0]
        if self._inflight:
            await asyncio.gather(*self._inflight.values(), return_exceptions=True)
        for task in self._tasks[1:]:
            task.cancel()
        for task in self._tasks[1:]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._flush()
        if self._own_group:
            await self._writer.close()

    async def _lease_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()  # before the lease: a commit that wakes us while it runs is not lost
            room = self._max_inflight - len(self._inflight)
            due: list[delivery.DueMessage] = []
            if room > 0:
                try:
                    due = await delivery.lease_due(
                        self._writer,
                        owner=self.owner,
                        limit=min(self._batch, room),
                        lease_ms=self._lease_ms,
                        skip_locked=self._skip_locked,
                    )
                except Exception:
                    log.exception("lease failed")
            if any(m.interrupted for m in due):
                due = [m for m in due if not m.interrupted] + await self._settle([m for m in due if m.interrupted])
            self.stats.leased += len(due)
            for m in due:
                self._inflight[m.smsid] = asyncio.create_task(self._send(m))
            if len(due) < min(self._batch, max(room, 1)):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll_s)

    async def _settle(self, interrupted: list[delivery.DueMessage]) -> list[delivery.DueMessage]:
        """A dead worker had these in flight: those whose receipts came are recorded from them, the others wait
        for their receipts up to ``interrupted_wait_ms`` after their mark; returns those to send again."""
        try:
            settled = await delivery.settle_interrupted(
                self._writer,
                self.owner,
                [delivery.Interrupted(m, _parts(m.content)) for m in interrupted],
                wait_ms=self._interrupted_wait_ms,
                skip_locked=self._skip_locked,
            )
        except Exception:
            log.exception("settling interrupted submits failed; they return when this lease ends")
            return []
        count_finished(settled.finished)
        if settled.reconciled:
            self.stats.reconciled += len(settled.reconciled)
            RECONCILED_SUBMITS.inc(len(settled.reconciled))
            log.info(
                "interrupted submits recorded from their receipts, not sent again",
                extra={"count": len(settled.reconciled), "smsids": settled.reconciled[:20]},
            )
        if settled.resend:
            resend = [m.smsid for m in settled.resend]
            self.stats.interrupted += len(resend)
            INTERRUPTED_SUBMITS.inc(len(resend))
            log.warning(
                "resending messages a dead worker had in flight; no receipt came for them (possible duplicates)",
                extra={"count": len(resend), "smsids": resend[:20]},
            )
        return settled.resend

    async def _send(self, m: delivery.DueMessage) -> None:
        tried: set[str] = set()
        error = "no channel available"
        group = self.account_groups.get(m.account_id, DEFAULT_GROUP)
        try:
            while True:
                channel = self.router.pick(m.carrier, group, exclude=frozenset(tried))
                if channel is None:
                    break
                if tried:
                    self.stats.failovers += 1
                others = frozenset(tried | {channel.name})
                try:
                    ids = await channel.submit(
                        OutMessage(
                            m.smsid,
                            m.mobile,
                            m.content,
                            before_send=lambda s=m.smsid, c=channel.name: self._mark(s, c),
                            elsewhere=lambda others=others: self.router.available_elsewhere(m.carrier, group, others),
                        )
                    )
                except LeaseLost:
                    self.stats.lease_lost += 1
                    log.warning("lease lost before the submit; another worker has it", extra={"smsid": m.smsid})
                    return
                except InDoubt as exc:  # the carrier may have it: settled from its receipt, not sent elsewhere now
                    CHANNEL_SUBMITS.labels(channel.name, "in_doubt").inc()
                    self.stats.in_doubt += 1
                    self._out.in_doubt[m.smsid] = f"{channel.name}: {exc}"
                    return
                except Transient as exc:
                    CHANNEL_SUBMITS.labels(channel.name, "transient").inc()
                    tried.add(channel.name)
                    error = f"{channel.name}: {exc}"
                    log.warning("submit failed, trying another channel", extra={"smsid": m.smsid, "error": error})
                    continue
                except Permanent as exc:
                    CHANNEL_SUBMITS.labels(channel.name, "rejected").inc()
                    self._out.failed.append((m.smsid, S.REJECTED, f"{channel.name}: {exc}"))
                    return
                self._out.submitted.append(delivery.Submitted(m.smsid, channel.name, tuple(ids)))
                CHANNEL_SUBMITS.labels(channel.name, "ok").inc()
                return
            decision = self._retry.decide(m.attempts)
            if decision.retry:
                at = now_ms() + int(decision.delay_s * 1000)
                self._out.retry.setdefault(at, []).append(m.smsid)
                self._out.retry_errors[m.smsid] = error
            else:
                self._out.failed.append((m.smsid, S.FAILED, error))
        except Exception as exc:  # never lose track of a leased message
            log.exception("dispatch crashed", extra={"smsid": m.smsid})
            self._out.retry.setdefault(now_ms() + 1000, []).append(m.smsid)
            self._out.retry_errors[m.smsid] = repr(exc)
        finally:
            self._inflight.pop(m.smsid, None)
            self._out_ready.set()
            if len(self._inflight) < self._max_inflight // 2:
                self._wake.set()

    async def _mark(self, smsid: str, channel: str) -> None:
        """Durably mark ``smsid`` as possibly at ``channel``'s carrier from now on (batched with its neighbours)."""
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._intents.append((smsid, channel, fut))
        self._intent_wake.set()
        if not await fut:
            raise LeaseLost(smsid)

    async def _intent_loop(self) -> None:
        while True:
            await self._intent_wake.wait()
            self._intent_wake.clear()
            batch, self._intents = self._intents, []
            if not batch:
                continue
            try:
                held = await delivery.mark_submitting(self._writer, self.owner, {s: c for s, c, _ in batch})
            except Exception as exc:
                log.exception("marking submits failed; they will be retried")
                for _, _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for smsid, _, fut in batch:
                if not fut.done():
                    fut.set_result(smsid in held)

    async def _flush_loop(self) -> None:
        renew_every = self._lease_ms / 3000
        last_renew = time.monotonic()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._out_ready.wait(), renew_every)
            self._out_ready.clear()
            if self._flush_s > 0:
                await asyncio.sleep(self._flush_s)
            try:
                await self._flush()
                if time.monotonic() - last_renew > renew_every and self._inflight:
                    await self._renew()
                    last_renew = time.monotonic()
            except Exception:
                log.exception("recording outcomes failed; will retry")
                self._out_ready.set()
                await asyncio.sleep(0.1)

    async def _flush(self) -> None:
        """Record every buffered outcome in one transaction; on failure they are put back for the next flush."""
        out, self._out = self._out, _Outcomes()
        if out.empty():
            return
        owner = self.owner

        async def work(conn) -> tuple[list[str], list[delivery.Finished], list[tuple[S, list[str]]]]:
            now = now_ms()
            done: list[str] = []
            early: list[delivery.Finished] = []  # receipts that came before the submit was recorded
            if out.submitted:
                done, early = await delivery.record_submitted_in(conn, owner, out.submitted, now)
            for at, smsids in out.retry.items():
                errors = "; ".join({out.retry_errors.get(s, "") for s in smsids})
                await delivery.record_retry_in(conn, owner, smsids, at, errors)
            if out.in_doubt:
                await delivery.record_in_doubt_in(conn, owner, out.in_doubt, now)
            ended = [
                (state, await delivery.record_failed_in(conn, owner, [smsid], state, err, now))
                for smsid, state, err in out.failed
            ]
            return done, early, ended

        try:
            done, early, ended = await write(self._writer, work)
        except Exception:
            # Put back what was not written; the next flush retries (leases are renewed meanwhile).
            self._out.submitted[:0] = out.submitted
            for at, smsids in out.retry.items():
                self._out.retry.setdefault(at, []).extend(smsids)
            self._out.retry_errors.update(out.retry_errors)
            self._out.failed[:0] = out.failed
            self._out.in_doubt.update(out.in_doubt)
            raise
        count_finished(early)
        if early or any(changed for _, changed in ended):  # their receipt pushes are in the outbox now
            for callback in self.on_finished:
                callback()
        self.stats.submitted += len(done)
        if len(done) != len(out.submitted):
            log.warning("%d submits recorded after losing the lease", len(out.submitted) - len(done))
        self.stats.retried += sum(len(smsids) for smsids in out.retry.values())
        for state, changed in ended:
            if changed:
                MESSAGES_FINAL.labels(state.value).inc()
        self.stats.failed += len(out.failed)

    async def _renew(self) -> None:
        smsids = list(self._inflight)
        until = now_ms() + self._lease_ms

        async def work(conn) -> None:
            for i in range(0, len(smsids), 500):
                await conn.execute(
                    update(messages)
                    .where(messages.c.smsid.in_(smsids[i : i + 500]), messages.c.lease_owner == self.owner)
                    .values(lease_expires_at=until, next_attempt_at=until)  # due again when the lease ends
                )

        await write(self._writer, work)


def _parts(content: str) -> int:
    """How many SMS parts a message is sent as (the SMPP channel's split: GSM 7-bit or UCS2)."""
    try:
        return count_parts(content)
    except MessageTooLong:
        return 1  # never sent: the channel refuses it before any part leaves
