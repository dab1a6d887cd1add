"""The channel protocol the dispatcher talks to, and the two kinds of channel failure."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(slots=True)  # not frozen: a frozen __init__ costs ~4x; made per message
class OutMessage:
    smsid: str
    mobile: str
    content: str
    # Awaited by the channel right before the first byte of this message leaves for the carrier (once per
    # submit call); raising ``LeaseLost`` (or anything) means: do not send. Channels that cannot tell the
    # moment may ignore it (then a crash mid-submit is not flagged as a possible duplicate).
    before_send: Callable[[], Awaitable[None]] | None = field(default=None, compare=False, repr=False)
    # Asked by a channel whose submit of this message has waited (throttled, backed up) past its failover bound:
    # True when another channel could take the message now, so giving up here loses no time. Channels that do
    # not hold messages back may ignore it.
    elsewhere: Callable[[], bool] | None = field(default=None, compare=False, repr=False)


@dataclass(slots=True)  # not frozen: a frozen __init__ costs ~4x; made per message
class InReceipt:
    """A delivery report as the channel received it (raw carrier status passed through)."""

    carrier_msg_id: str
    stat: str
    err: str | None = None
    done_at: int | None = None  # Unix ms
    mobile: str | None = None  # the handset it reports on (deliver_sm source_addr)


@dataclass(frozen=True, slots=True)
class InReply:
    """A mobile-originated message (reply)."""

    mobile: str
    text: str
    received_at: int


class LeaseLost(Exception):
    """The dispatcher no longer holds this message (another worker took it over): it must not be sent."""


@dataclass(frozen=True, slots=True)
class InUnparsed:
    """A deliver_sm/data_sm the channel could not understand, with its raw fields (kept for the operator)."""

    command: str
    source_addr: str
    destination_addr: str
    esm_class: int
    data_coding: int
    payload: bytes
    tlvs: dict[str, str]
    reason: str
    received_at: int


@dataclass(frozen=True, slots=True)
class ChannelStatus:
    """What a channel tells about itself now (gauges, the ``channel_status`` heartbeat, the console)."""

    bound: bool
    inflight: int = 0  # submits waiting for their submit_sm_resp
    window: int = 0  # most submits in flight at once
    tps: float = 0.0  # submit_sm sent per second lately
    throttled: bool = False  # bound but held back past its failover bound: takes no new messages


class Transient(Exception):
    """Try again later or elsewhere: channel down, throttled, timed out."""


class InDoubt(Transient):
    """The connection went away after the submit_sm left (or after some of its parts were accepted): the carrier
    may have the message. Not to be sent again at once — its receipt, when the channel comes back, tells
    (docs/decisions/0002-submit-crash-window.md)."""


class Permanent(Exception):
    """The carrier refused this message for good (bad number, content refused): do not retry."""

    def __init__(self, message: str, status: str = "REJECTD") -> None:
        super().__init__(message)
        self.status = status


ReceiptSink = Callable[[str, InReceipt], Awaitable[None]]  # (channel name, receipt); returns once durable
ReplySink = Callable[[str, InReply], Awaitable[None]]
UnparsedSink = Callable[[str, InUnparsed], Awaitable[None]]


class Channel(Protocol):
    name: str

    @property
    def available(self) -> bool:
        """Bound and not throttled beyond the failover bound."""
        ...

    # Optional: ``connected`` (bound, throttled or not). The router falls back to a connected channel when none
    # is available, rather than leaving the message to the retry schedule; channels without it count as
    # connected when available.

    def status(self) -> ChannelStatus:
        """Bound state, window use, recent rate (cheap; called every few seconds and by the console)."""
        ...

    async def start(
        self, on_receipt: ReceiptSink, on_reply: ReplySink, on_unparsed: UnparsedSink | None = None
    ) -> None: ...

    async def submit(self, msg: OutMessage) -> tuple[str, ...]:
        """Send; returns one carrier message id per part. Raises Transient or Permanent."""
        ...

    async def stop(self) -> None: ...
