"""The SMPP channel: a ``hongyan.smpp.SmppClient`` (our own asyncio ESME) behind the Channel protocol.

Errors map to the dispatcher's two kinds: a permanent submit_sm_resp status → ``Permanent``; throttling
that outlasts the client's own back-off, a temporary status, or a lost connection → ``Transient`` (the
dispatcher then tries the backup channel). A connection lost *after* the submit_sm left (``maybe_sent``) is
ambiguous — the carrier may have the message — and raises ``InDoubt``: the dispatcher does not send it elsewhere
at once but waits for its receipt (decision 0002), sending it again only if none comes.
A channel held back (throttling answers, a queue at its TPS bucket) for longer than ``failover_after_s`` is not
``available`` for new messages while it still has a queue (it keeps taking what it can send at once), and a
message that has waited on it past that bound gives up (``Congested`` → ``Transient``) when another channel can
take it; it is available again once it has recovered.
Receipts and replies are handed to the sinks, which make them durable before the deliver_sm_resp goes out;
so is a deliver_sm that cannot be understood (kept raw for the operator and counted, never dropped silently).
"""

from __future__ import annotations

import logging
import time
from collections import deque

from hongyan.channels.base import (
    ChannelStatus,
    InDoubt,
    InReceipt,
    InReply,
    InUnparsed,
    OutMessage,
    Permanent,
    ReceiptSink,
    ReplySink,
    Transient,
    UnparsedSink,
)
from hongyan.domain.carrier_ids import canonical_id
from hongyan.metrics import UNPARSED_DELIVERIES
from hongyan.smpp import ChannelDown, Congested, DeliverEvent, SmppClient, SmppError, SubmitError, status_name
from hongyan.smpp.pdu import DataSm
from hongyan.store.channels import ChannelConfig

log = logging.getLogger(__name__)

_RATE_SPAN_S = 5.0  # the recent submit rate is measured over about this long


class SmppChannel:
    def __init__(self, config: ChannelConfig, *, failover_after_s: float | None = 3.0, **client_options) -> None:
        self.name = config.name
        self.config = config
        self.failover_after_s = failover_after_s
        self._client_options = client_options
        self._client: SmppClient | None = None
        self._on_receipt: ReceiptSink | None = None
        self._on_reply: ReplySink | None = None
        self._on_unparsed: UnparsedSink | None = None
        self._rate_marks: deque[tuple[float, int]] = deque()

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.is_bound

    @property
    def congested(self) -> bool:
        """Held back past the failover bound and still queueing: new messages should go elsewhere."""
        client, bound = self._client, self.failover_after_s
        return client is not None and bound is not None and client.congested_for() > bound and client.held_back()

    @property
    def available(self) -> bool:
        return self.connected and not self.congested

    def status(self) -> ChannelStatus:
        client = self._client
        if client is None:
            return ChannelStatus(bound=False, window=self.config.window)
        bound = client.is_bound
        return ChannelStatus(
            bound=bound,
            inflight=client.inflight,
            window=self.config.window,
            tps=round(self._rate(time.monotonic(), client.stats["submitted"]), 1),
            throttled=bound and self.congested,
        )

    def _rate(self, now: float, sent: int) -> float:
        """submit_sm per second over the last few seconds, from the samples the status calls leave."""
        marks = self._rate_marks
        if marks and sent < marks[-1][1]:  # a new client (restarted channel) counts from zero again
            marks.clear()
        marks.append((now, sent))
        while len(marks) > 2 and now - marks[1][0] >= _RATE_SPAN_S:  # keep one sample at least the span old
            marks.popleft()
        t0, n0 = marks[0]
        return (sent - n0) / (now - t0) if now > t0 else 0.0

    async def start(
        self, on_receipt: ReceiptSink, on_reply: ReplySink, on_unparsed: UnparsedSink | None = None
    ) -> None:
        self._on_receipt, self._on_reply, self._on_unparsed = on_receipt, on_reply, on_unparsed
        c = self.config
        self._client = SmppClient(
            c.host,
            c.port,
            c.system_id,
            c.password,
            window=c.window,
            tps=c.tps,
            system_type=c.system_type,
            on_deliver=self._deliver,
            name=c.name,
            **self._client_options,
        )
        await self._client.start()

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def submit(self, msg: OutMessage) -> tuple[str, ...]:
        if self._client is None or not self._client.is_bound:
            raise Transient(f"{self.name} is not bound")
        try:
            ids = await self._client.submit(
                self.config.source_addr or "106",
                msg.mobile,
                msg.content,
                before_send=msg.before_send,
                move_after_s=self.failover_after_s,
                elsewhere=msg.elsewhere,
            )
        except Congested as exc:
            raise Transient(f"{self.name}: {exc}") from exc
        except SubmitError as exc:
            if exc.permanent and not exc.accepted:
                raise Permanent(str(exc), status_name(exc.status)) from exc
            raise Transient(str(exc)) from exc
        except ChannelDown as exc:
            if exc.maybe_sent or exc.accepted:
                log.warning(
                    "connection lost with the submit in flight; its receipt will tell whether the carrier has it",
                    extra={"smsid": msg.smsid, "channel": self.name},
                )
                raise InDoubt(str(exc)) from exc
            raise Transient(str(exc)) from exc
        except SmppError as exc:
            raise Transient(str(exc)) from exc
        return tuple(canonical_id(i) for i in ids)

    async def _deliver(self, event: DeliverEvent) -> None:
        if event.receipt is not None:
            if self._on_receipt is not None:
                r = event.receipt
                done = int(r.done_at.timestamp() * 1000) if r.done_at else None
                receipt = InReceipt(canonical_id(r.message_id), r.stat, r.err, done, event.source_addr or None)
                await self._on_receipt(self.name, receipt)
        elif event.mo is not None:
            if self._on_reply is not None:
                await self._on_reply(self.name, InReply(event.mo.source_addr, event.mo.text, int(time.time() * 1000)))
        else:
            await self._unparsed(event)

    async def _unparsed(self, event: DeliverEvent) -> None:
        UNPARSED_DELIVERIES.labels(self.name).inc()
        pdu = event.pdu
        log.warning("unparseable deliver_sm kept", extra={"channel": self.name, "raw": event.raw[:200].hex()})
        if self._on_unparsed is None or pdu is None:
            return
        kept = InUnparsed(
            command="data_sm" if isinstance(pdu, DataSm) else "deliver_sm",
            source_addr=pdu.source_addr,
            destination_addr=pdu.destination_addr,
            esm_class=pdu.esm_class,
            data_coding=pdu.data_coding or 0,
            payload=event.raw,
            tlvs={f"0x{int(tag):04x}": _tlv_text(value) for tag, value in pdu.tlvs.items()},
            reason="delivery receipt without a message id or a status",
            received_at=int(time.time() * 1000),
        )
        await self._on_unparsed(self.name, kept)


def _tlv_text(value: object) -> str:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, str | int):
        return str(value)
    return repr(value)
