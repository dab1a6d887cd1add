"""The SMPP layer's exceptions: one small tree the dispatcher can map to Transient / Permanent.

``SmppError``
  ``PduError`` (also a ``ValueError``): bytes that are not a valid PDU, or fields that cannot be encoded.
  ``BindError``: the SMSC refused the bind (``status``: ESME_RINVPASWD, ESME_RINVSYSID, ESME_RBINDFAIL, …).
  ``SubmitError``: the SMSC answered a submit with an error ``status``; ``permanent`` says whether retrying
  can ever help.
  ``Congested``: a submit waited its turn (TPS bucket, throttling back-off) past its bound and was given up
  before anything of it was accepted (safe to send elsewhere).
  ``ChannelDown``: no bound connection, or the connection was lost with the request in flight.
  ``maybe_sent`` tells whether the SMSC may have received it (the outcome is unknown: resubmitting may
  duplicate); ``RequestTimeout`` is the same when no response came in time.
"""

from __future__ import annotations

from hongyan.smpp.constants import ESME_RSYSERR, is_permanent, status_name


class SmppError(Exception):
    """Base of every error raised by :mod:`hongyan.smpp`."""


class PduError(SmppError, ValueError):
    """A PDU that cannot be encoded or decoded.

    ``status`` is the command status to answer with; ``command_id``/``sequence`` are set when the header was
    readable (``None`` otherwise).
    """

    def __init__(
        self, message: str, *, status: int = ESME_RSYSERR, command_id: int | None = None, sequence: int | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.command_id = command_id
        self.sequence = sequence


class BindError(SmppError):
    def __init__(self, status: int, message: str = "") -> None:
        super().__init__(message or f"bind refused: {status_name(status)}")
        self.status = status


class SubmitError(SmppError):
    """The SMSC refused a part. ``accepted`` holds the message ids of the parts accepted before it."""

    def __init__(self, status: int, permanent: bool | None = None, accepted: tuple[str, ...] = ()) -> None:
        self.status = status
        self.permanent = is_permanent(status) if permanent is None else permanent
        self.accepted = accepted
        kind = "permanent" if self.permanent else "transient"
        super().__init__(f"submit refused: {status_name(status)} ({kind})")


class Congested(SmppError):
    """A submit gave up waiting for its turn (TPS bucket, throttling back-off) after ``waited_s``; no part of it
    was accepted by the SMSC, so it may go elsewhere without a duplicate."""

    def __init__(self, waited_s: float) -> None:
        super().__init__(f"throttled or backed up for {waited_s:.1f}s")
        self.waited_s = waited_s


class ChannelDown(SmppError):
    """Not bound, or the connection went away before the response came.

    ``maybe_sent`` is False only when the request certainly never left this process (safe to send elsewhere);
    ``accepted`` holds the message ids of earlier parts of the same message that the SMSC did accept.
    """

    def __init__(self, message: str = "channel down", *, maybe_sent: bool = False, accepted: tuple[str, ...] = ()):
        super().__init__(message)
        self.maybe_sent = maybe_sent
        self.accepted = accepted


class RequestTimeout(ChannelDown):
    """No response within the request timeout (the request was sent: ``maybe_sent`` is True)."""
