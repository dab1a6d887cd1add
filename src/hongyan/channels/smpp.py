"""The SMPP channel: a ``hongyan.smpp.SmppClient`` (our own asyncio ESME) behind the Channel protocol.

Errors map to the dispatcher's two kinds: a permanent submit_sm_resp status → ``Permanent``; throttling
that outlasts the client's own back-off, a temporary status, or a lost connection → ``Transient`` (the
dispatcher then tries the backup channel). A connection lost *after* the submit_sm left (``maybe_sent``) is
ambiguous — the carrier may have the message — and is also treated as transient: at-least-once, never lost.
Receipts and replies are handed to the sinks, which make them durable before the deliver_sm_resp goes out.
"""

from __future__ import annotations

import logging
import time

from hongyan.channels.base import InReceipt, InReply, OutMessage, Permanent, ReceiptSink, ReplySink, Transient
from hongyan.smpp import ChannelDown, DeliverEvent, SmppClient, SmppError, SubmitError, status_name
from hongyan.store.channels import ChannelConfig

log = logging.getLogger(__name__)


def canonical_id(message_id: str) -> str:
    """Carrier ids are compared case-insensitively and without surrounding spaces."""
    return message_id.strip().lower()


class SmppChannel:
    def __init__(self, config: ChannelConfig, **client_options) -> None:
        self.name = config.name
        self.config = config
        self._client_options = client_options
        self._client: SmppClient | None = None
        self._on_receipt: ReceiptSink | None = None
        self._on_reply: ReplySink | None = None

    @property
    def available(self) -> bool:
        return self._client is not None and self._client.is_bound

    async def start(self, on_receipt: ReceiptSink, on_reply: ReplySink) -> None:
        self._on_receipt, self._on_reply = on_receipt, on_reply
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
            ids = await self._client.submit(self.config.source_addr or "106", msg.mobile, msg.content)
        except SubmitError as exc:
            if exc.permanent and not exc.accepted:
                raise Permanent(str(exc), status_name(exc.status)) from exc
            raise Transient(str(exc)) from exc
        except ChannelDown as exc:
            if exc.maybe_sent:
                log.warning(
                    "connection lost with the submit in flight; it will be retried",
                    extra={"smsid": msg.smsid, "channel": self.name},
                )
            raise Transient(str(exc)) from exc
        except SmppError as exc:
            raise Transient(str(exc)) from exc
        return tuple(canonical_id(i) for i in ids)

    async def _deliver(self, event: DeliverEvent) -> None:
        if event.receipt is not None and self._on_receipt is not None:
            r = event.receipt
            done = int(r.done_at.timestamp() * 1000) if r.done_at else None
            await self._on_receipt(self.name, InReceipt(canonical_id(r.message_id), r.stat, r.err, done))
        elif event.mo is not None and self._on_reply is not None:
            await self._on_reply(self.name, InReply(event.mo.source_addr, event.mo.text, int(time.time() * 1000)))
        else:
            log.warning("unparseable deliver_sm ignored", extra={"channel": self.name, "raw": event.raw[:200]})
