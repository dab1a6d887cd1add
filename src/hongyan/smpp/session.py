"""One SMPP connection as an asyncio Protocol, used by both the ESME client and the SMSC server.

It frames and decodes PDUs, numbers and tracks outgoing requests (a window of in-flight requests, each a
future resolved by its response or failed by a timeout or the loss of the connection), answers the peer's
enquire_link and unbind, sends enquire_link when the link is idle, nacks garbage, hands every other request
to ``on_request``, and coalesces all writes issued in one loop iteration into one ``transport.write``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import socket
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, cast

from hongyan.smpp.constants import (
    ESME_RINVCMDID,
    ESME_RSYSERR,
    ESME_RX_T_APPN,
    RESPONSE_BIT,
    CommandId,
)
from hongyan.smpp.errors import ChannelDown, RequestTimeout
from hongyan.smpp.pdu import (
    DEFAULT_MAX_PDU_SIZE,
    PDU_CLASSES,
    EnquireLink,
    EnquireLinkResp,
    Framer,
    GenericNack,
    Pdu,
    PduError,
    Unbind,
    UnbindResp,
    decode,
    encode,
)

log = logging.getLogger(__name__)

HandlerResult = Pdu | Awaitable[Pdu | None] | None
# Called for every request except enquire_link and unbind. Return the response PDU, an awaitable of it
# (the response is sent when it completes), or None when the handler will call ``session.send`` itself.
RequestHandler = Callable[["SmppSession", Pdu], HandlerResult]

_MAX_SEQUENCE = 0x7FFFFFFF


class _Pending:
    __slots__ = ("deadline", "future", "generation", "windowed")

    def __init__(self, future: asyncio.Future[Pdu], deadline: float, windowed: bool, generation: int) -> None:
        self.future = future
        self.deadline = deadline
        self.windowed = windowed
        self.generation = generation


class SmppSession(asyncio.Protocol):
    """An SMPP connection. Create it through ``loop.create_connection``/``create_server`` as a protocol factory."""

    def __init__(
        self,
        *,
        on_request: RequestHandler | None = None,
        on_close: Callable[[SmppSession, BaseException | None], None] | None = None,
        window: int = 10,
        request_timeout: float = 10.0,
        enquire_interval: float | None = 30.0,
        max_pdu_size: int = DEFAULT_MAX_PDU_SIZE,
        max_incoming: int = 1000,
        name: str = "smpp",
    ) -> None:
        self.on_request = on_request
        self.on_close = on_close
        self.window = max(1, window)
        self.request_timeout = request_timeout
        self.enquire_interval = enquire_interval
        self.max_incoming = max_incoming
        self.name = name
        self.peer: tuple[str, int] | None = None
        self.transport: asyncio.Transport | None = None
        self.bind_type: str | None = None  # set by the client/server once bound: "transmitter"|"receiver"|"transceiver"
        self.system_id = ""
        self.context: Any = None  # free for the owner (the server keeps its per-connection state here)
        self._loop = asyncio.get_running_loop()
        self._framer = Framer(max_pdu_size)
        self._seq = 0
        self._pending: dict[int, _Pending] = {}
        self._inflight = 0
        self.peak_inflight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._wbuf: list[bytes] = []
        self._flush_handle: asyncio.Handle | None = None
        self._generation = 0
        self._write_ok = asyncio.Event()
        self._write_ok.set()
        self._incoming = 0
        self._reading_paused = False
        self._handler_tasks: set[asyncio.Future[Any]] = set()
        self._tick_handle: asyncio.TimerHandle | None = None
        self._tick_s = max(0.02, min(0.5, request_timeout / 4))
        self._last_rx = self._loop.time()
        self._enquiring = False
        self._closing = False
        self.closed: asyncio.Future[BaseException | None] = self._loop.create_future()

    # ------------------------------------------------------------------------------------------- state
    @property
    def connected(self) -> bool:
        return self.transport is not None and not self._closing and not self.closed.done()

    @property
    def inflight(self) -> int:
        """Outgoing windowed requests sent and not yet answered."""
        return self._inflight

    # ------------------------------------------------------------------------------------------- protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.peer = transport.get_extra_info("peername")
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):  # a platform without TCP_NODELAY on this socket
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._last_rx = self._loop.time()
        self._tick_handle = self._loop.call_later(self._tick_s, self._tick)

    def data_received(self, data: bytes) -> None:
        self._last_rx = self._loop.time()
        framer = self._framer
        for frame in framer.feed(data):
            try:
                pdu = decode(frame)
            except PduError as exc:
                self._on_bad_pdu(exc)
                continue
            if pdu.command_id & RESPONSE_BIT:
                self._on_response(pdu)
            else:
                self._on_request(pdu)
        if framer.error is not None:
            err = framer.error
            log.warning("%s: unframeable input from %s: %s", self.name, self.peer, err)
            self.send(GenericNack(sequence=err.sequence or 0, status=err.status))
            self.close()

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        if self._tick_handle is not None:
            self._tick_handle.cancel()
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        unsent = self._generation  # entries queued in this generation were never handed to the transport
        if self._wbuf:
            self._wbuf.clear()
        else:
            unsent += 1
        pending, self._pending = self._pending, {}
        for entry in pending.values():
            if not entry.future.done():
                entry.future.set_exception(
                    ChannelDown("connection lost with the request in flight", maybe_sent=entry.generation < unsent)
                )
        self._inflight = 0
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(ChannelDown("connection lost", maybe_sent=False))
        self._write_ok.set()
        if not self.closed.done():
            self.closed.set_result(exc)
        if self.on_close is not None:
            try:
                self.on_close(self, exc)
            except Exception:  # pragma: no cover - an owner's bug must not break the loop
                log.exception("%s: on_close failed", self.name)

    def pause_writing(self) -> None:
        self._write_ok.clear()

    def resume_writing(self) -> None:
        self._write_ok.set()

    # ------------------------------------------------------------------------------------------- writing
    def send(self, pdu: Pdu) -> None:
        """Queue ``pdu`` (a response, or a request whose sequence is set) for the next coalesced write."""
        self.send_raw(encode(pdu))

    def send_raw(self, data: bytes) -> None:
        if self._closing or self.transport is None:
            return
        self._wbuf.append(data)
        if self._flush_handle is None:
            self._flush_handle = self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        self._generation += 1
        if not self._wbuf or self.transport is None:
            return
        data = self._wbuf[0] if len(self._wbuf) == 1 else b"".join(self._wbuf)
        self._wbuf.clear()
        self.transport.write(data)

    # ------------------------------------------------------------------------------------------- requests
    def next_sequence(self) -> int:
        self._seq = self._seq + 1 if self._seq < _MAX_SEQUENCE else 1
        return self._seq

    async def acquire(self) -> None:
        """Wait for a free slot in the window (and for the transport to accept writes)."""
        if not self.connected:
            raise ChannelDown("not connected", maybe_sent=False)
        if not self._write_ok.is_set():
            await self._write_ok.wait()
            if not self.connected:
                raise ChannelDown("connection lost", maybe_sent=False)
        if self._inflight < self.window and not self._waiters:
            self._inflight += 1
            return
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._release()  # the slot was handed to us as we were cancelled: pass it on
            raise

    def release(self) -> None:
        """Give back a slot taken with :meth:`acquire` that will not be used for a request."""
        self._release()

    def _release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes straight to the waiter
                return
        self._inflight -= 1

    def send_request(self, pdu: Pdu, *, windowed: bool = True, timeout: float | None = None) -> asyncio.Future[Pdu]:
        """Number and send a request; the future gets its response PDU (any status) or a ChannelDown.

        With ``windowed`` the caller must hold a slot from :meth:`acquire`; it is released with the response.
        """
        if not self.connected:
            if windowed:
                self._release()
            raise ChannelDown("not connected", maybe_sent=False)
        pdu.sequence = seq = self.next_sequence()
        try:
            data = encode(pdu)
        except PduError:
            if windowed:
                self._release()
            raise
        future: asyncio.Future[Pdu] = self._loop.create_future()
        deadline = self._loop.time() + (self.request_timeout if timeout is None else timeout)
        self._pending[seq] = _Pending(future, deadline, windowed, self._generation)
        if windowed and self._inflight > self.peak_inflight:
            self.peak_inflight = self._inflight
        self.send_raw(data)
        return future

    async def request(self, pdu: Pdu, *, timeout: float | None = None, windowed: bool = True) -> Pdu:
        """Send a request within the window and return its response (whatever its command_status)."""
        if windowed:
            await self.acquire()
        return await self.send_request(pdu, windowed=windowed, timeout=timeout)

    def _on_response(self, pdu: Pdu) -> None:
        entry = self._pending.pop(pdu.sequence, None)
        if entry is None:
            log.debug("%s: %s for unknown sequence %d", self.name, pdu.name, pdu.sequence)
            return
        if entry.windowed:
            self._release()
        if not entry.future.done():
            entry.future.set_result(pdu)

    def _tick(self) -> None:
        now = self._loop.time()
        if self._pending:
            expired = [seq for seq, entry in self._pending.items() if entry.deadline <= now]
            for seq in expired:
                entry = self._pending.pop(seq)
                if entry.windowed:
                    self._release()
                if not entry.future.done():
                    entry.future.set_exception(RequestTimeout("no response in time", maybe_sent=True))
        interval = self.enquire_interval
        if interval and not self._enquiring and self.connected and now - self._last_rx >= interval:
            self._enquiring = True
            future = self.send_request(EnquireLink(), windowed=False)
            future.add_done_callback(self._enquire_done)
        self._tick_handle = self._loop.call_later(self._tick_s, self._tick)

    def _enquire_done(self, future: asyncio.Future[Pdu]) -> None:
        self._enquiring = False
        if not future.cancelled() and isinstance(future.exception(), RequestTimeout):
            log.warning("%s: enquire_link unanswered by %s: closing", self.name, self.peer)
            self.abort()

    # ------------------------------------------------------------------------------------------- incoming
    def _on_request(self, pdu: Pdu) -> None:
        cid = pdu.command_id
        if cid == CommandId.ENQUIRE_LINK:
            self.send(EnquireLinkResp(sequence=pdu.sequence))
            return
        if cid == CommandId.UNBIND:
            self.send(UnbindResp(sequence=pdu.sequence))
            self.close()
            return
        handler = self.on_request
        if handler is None:
            self.send(pdu.response(ESME_RINVCMDID))
            return
        try:
            result = handler(self, pdu)
        except Exception:
            log.exception("%s: handler failed for %s", self.name, pdu.name)
            self.send(pdu.response(ESME_RSYSERR))
            return
        if result is None:
            return
        if isinstance(result, Pdu):
            self.send(result)
            return
        task = asyncio.ensure_future(result) if inspect.isawaitable(result) else None
        if task is None:  # pragma: no cover - a handler returned something odd
            self.send(pdu.response(ESME_RSYSERR))
            return
        self._incoming += 1
        self._handler_tasks.add(task)
        task.add_done_callback(lambda t, request=pdu: self._handler_done(t, request))
        if self._incoming >= self.max_incoming and not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()

    def _handler_done(self, task: asyncio.Future[Pdu | None], request: Pdu) -> None:
        self._handler_tasks.discard(task)
        self._incoming -= 1
        if self._reading_paused and self._incoming <= self.max_incoming // 2 and self.transport is not None:
            self._reading_paused = False
            if not self._closing:
                self.transport.resume_reading()
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("%s: handler failed for %s: %r", self.name, request.name, exc, exc_info=exc)
            self.send(request.response(ESME_RX_T_APPN))  # temporary: the peer will send it again
            return
        result = task.result()
        if result is not None:
            self.send(result)

    def _on_bad_pdu(self, exc: PduError) -> None:
        log.warning("%s: bad PDU from %s: %s", self.name, self.peer, exc)
        cid, seq = exc.command_id, exc.sequence or 0
        if cid is not None and cid & RESPONSE_BIT:
            entry = self._pending.pop(seq, None)
            if entry is not None:
                if entry.windowed:
                    self._release()
                if not entry.future.done():
                    entry.future.set_exception(ChannelDown(f"malformed response: {exc}", maybe_sent=True))
            return
        cls = PDU_CLASSES.get(cid) if cid is not None else None
        if cls is not None and cls.RESP is not None:
            self.send(cls.RESP(sequence=seq, status=exc.status))
        else:
            self.send(GenericNack(sequence=seq, status=exc.status))

    # ------------------------------------------------------------------------------------------- closing
    def close(self) -> None:
        """Flush what is queued and close the connection."""
        if self.transport is None or self._closing:
            return
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush()
        self._closing = True
        self.transport.close()

    def abort(self) -> None:
        """Drop the connection now, without flushing."""
        if self.transport is not None:
            self._closing = True
            self.transport.abort()

    async def unbind(self, timeout: float = 2.0) -> None:
        """Send unbind, wait briefly for unbind_resp, close, and wait until the connection is gone."""
        if self.connected:
            with contextlib.suppress(ChannelDown):
                await self.send_request(Unbind(), windowed=False, timeout=timeout)
        self.close()
        await self.wait_closed(timeout)

    async def wait_closed(self, timeout: float | None = None) -> None:
        if self.transport is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self.closed), timeout)
        except TimeoutError:
            self.abort()
            await asyncio.shield(self.closed)
