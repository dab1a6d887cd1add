"""The channel protocol the dispatcher talks to, and the two kinds of channel failure."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class OutMessage:
    smsid: str
    mobile: str
    content: str


@dataclass(frozen=True, slots=True)
class InReceipt:
    """A delivery report as the channel received it (raw carrier status passed through)."""

    carrier_msg_id: str
    stat: str
    err: str | None = None
    done_at: int | None = None  # Unix ms


@dataclass(frozen=True, slots=True)
class InReply:
    """A mobile-originated message (reply)."""

    mobile: str
    text: str
    received_at: int


class Transient(Exception):
    """Try again later or elsewhere: channel down, throttled, timed out."""


class Permanent(Exception):
    """The carrier refused this message for good (bad number, content refused): do not retry."""

    def __init__(self, message: str, status: str = "REJECTD") -> None:
        super().__init__(message)
        self.status = status


ReceiptSink = Callable[[str, InReceipt], Awaitable[None]]  # (channel name, receipt); returns once durable
ReplySink = Callable[[str, InReply], Awaitable[None]]


class Channel(Protocol):
    name: str

    @property
    def available(self) -> bool:
        """Bound and not throttled beyond the failover bound."""
        ...

    async def start(self, on_receipt: ReceiptSink, on_reply: ReplySink) -> None: ...

    async def submit(self, msg: OutMessage) -> tuple[str, ...]:
        """Send; returns one carrier message id per part. Raises Transient or Permanent."""
        ...

    async def stop(self) -> None: ...
