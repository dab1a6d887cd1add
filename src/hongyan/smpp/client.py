"""The ESME: one bound SMPP connection to a carrier's SMSC, kept up by itself.

``SmppClient`` connects and binds, rebinds with exponential backoff and jitter when the link drops, paces
submits with a token bucket and a window of in-flight submit_sm, backs off and retries on ESME_RTHROTTLED /
ESME_RMSGQFUL, splits long text into UDH parts, and turns deliver_sm (receipts and MO) into ``DeliverEvent``
calls whose deliver_sm_resp goes out only after the callback has returned (so the callback can persist first).

It also tells how long it has been *congested* — submits held back continuously by throttling answers or a
backed-up TPS bucket (``congested_for``) — and a submit can be told to give up waiting after a bound when another
channel could take it (``move_after_s`` + ``elsewhere``: ``Congested``, raised only while no part was accepted).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from hongyan.smpp.constants import (
    DATA_CODING_DEFAULT,
    ESM_CLASS_UDHI,
    ESME_RINVCMDID,
    ESME_ROK,
    ESME_RSYSERR,
    ESME_RTHROTTLED,
    ESME_RX_T_APPN,
    THROTTLING_STATUSES,
    Tag,
)
from hongyan.smpp.encoding import Concat, Reassembler, UdhError, decode_text, parse_udh, split_text
from hongyan.smpp.errors import BindError, ChannelDown, Congested, SmppError, SubmitError
from hongyan.smpp.pdu import (
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    DataSm,
    DeliverSm,
    Pdu,
    SubmitSm,
    SubmitSmResp,
)
from hongyan.smpp.ratelimit import ThrottleControl, TokenBucket
from hongyan.smpp.receipts import Receipt, is_receipt, receipt_from_pdu
from hongyan.smpp.session import SmppSession

log = logging.getLogger(__name__)

BindType = Literal["transceiver", "transmitter", "receiver"]
_BIND_PDUS: dict[str, type[BindTransmitter | BindReceiver | BindTransceiver]] = {
    "transceiver": BindTransceiver,
    "transmitter": BindTransmitter,
    "receiver": BindReceiver,
}


@dataclass(frozen=True, slots=True)
class MoMessage:
    """A mobile-originated message, reassembled when it came in parts."""

    source_addr: str
    destination_addr: str
    text: str
    data_coding: int
    parts: int = 1


@dataclass(slots=True)  # not frozen: a frozen __init__ costs ~4x; made per message
class DeliverEvent:
    """What a deliver_sm/data_sm brought: a ``receipt``, an ``mo`` message, or neither (unparseable receipt)."""

    source_addr: str
    destination_addr: str
    receipt: Receipt | None = None
    mo: MoMessage | None = None
    raw: bytes = b""
    pdu: DeliverSm | DataSm | None = None  # the PDU itself (its fields are kept when it cannot be understood)

    @property
    def kind(self) -> Literal["receipt", "mo", "unparsed"]:
        return "receipt" if self.receipt else "mo" if self.mo else "unparsed"


DeliverCallback = Callable[[DeliverEvent], Awaitable[None] | None]
BoundCallback = Callable[[bool], None]

_RECHECK_S = 0.1  # past its bound, a waiting submit asks again this often whether another channel can take it


@dataclass(frozen=True, slots=True)
class _Move:
    """When a waiting submit may give up: after ``deadline`` (loop time), if ``elsewhere()`` says yes."""

    started: float
    deadline: float
    elsewhere: Callable[[], bool]


class SmppClient:
    """An ESME bound to one SMSC. ``await start()`` (or ``async with``), ``await submit(...)``, ``await close()``."""

    def __init__(
        self,
        host: str,
        port: int,
        system_id: str,
        password: str,
        *,
        window: int = 50,
        tps: float | None = 200,
        bind: BindType = "transceiver",
        on_deliver: DeliverCallback | None = None,
        on_bound_change: BoundCallback | None = None,
        system_type: str = "",
        source_ton: int | None = None,
        source_npi: int | None = None,
        dest_ton: int = 0,
        dest_npi: int = 1,
        request_timeout: float = 10.0,
        enquire_interval: float = 30.0,
        connect_timeout: float = 5.0,
        reconnect_min_s: float = 0.2,
        reconnect_max_s: float = 30.0,
        throttle_min_s: float = 0.05,
        throttle_max_s: float = 2.0,
        max_throttle_wait_s: float | None = 60.0,
        congestion_settle_s: float = 1.0,
        name: str | None = None,
    ) -> None:
        if bind not in _BIND_PDUS:
            raise ValueError(f"bind must be one of {sorted(_BIND_PDUS)}")
        self.host, self.port = host, port
        self.system_id, self.password, self.system_type = system_id, password, system_type
        self.window = window
        self.tps = tps
        self.bind_type: BindType = bind
        self.on_deliver = on_deliver
        self.on_bound_change = on_bound_change
        self.source_ton, self.source_npi = source_ton, source_npi
        self.dest_ton, self.dest_npi = dest_ton, dest_npi
        self.request_timeout = request_timeout
        self.enquire_interval = enquire_interval
        self.connect_timeout = connect_timeout
        self.reconnect_min_s, self.reconnect_max_s = reconnect_min_s, reconnect_max_s
        self.throttle_min_s, self.throttle_max_s = throttle_min_s, throttle_max_s
        self.max_throttle_wait_s = max_throttle_wait_s
        self.congestion_settle_s = congestion_settle_s
        self.name = name or f"smpp:{system_id}@{host}:{port}"
        self.last_error: BaseException | None = None
        self.bound_event = asyncio.Event()
        self.stats: dict[str, int] = {
            "binds": 0,
            "bind_failures": 0,
            "submitted": 0,
            "throttled": 0,
            "submit_errors": 0,
            "receipts": 0,
            "mo": 0,
        }
        self._bucket = TokenBucket(tps)
        self._session: SmppSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._stop_event = asyncio.Event()
        self._ref = random.randrange(256)
        self._throttle = ThrottleControl(self._bucket, tps, throttle_min_s, throttle_max_s)
        self._reassembler = Reassembler()
        # congestion: submits waiting for their turn now, since when they have been held back without a break
        self._backlog = 0
        self._behind_since: float | None = None
        self._last_behind = float("-inf")

    # ------------------------------------------------------------------------------------------- lifecycle
    @property
    def is_bound(self) -> bool:
        return self._session is not None and self._session.connected and self.bound_event.is_set()

    @property
    def session(self) -> SmppSession | None:
        return self._session

    @property
    def inflight(self) -> int:
        return self._session.inflight if self._session is not None else 0

    @property
    def backlog(self) -> int:
        """Submits waiting for their turn now (throttling pause or TPS bucket)."""
        return self._backlog

    def held_back(self, now: float | None = None) -> bool:
        """True while a new submit would have to wait: others are queued, or a throttling pause is on."""
        now = _now() if now is None else now
        return self._backlog > 0 or self._throttle.pause_until > now

    def congested_for(self, now: float | None = None) -> float:
        """Seconds submits have been held back without a break (throttling answers or a queue at the TPS bucket);
        0 when not. The episode ends once nothing waits and no throttling answer came for ``congestion_settle_s``."""
        now = _now() if now is None else now
        self._settle(now)
        return 0.0 if self._behind_since is None else now - self._behind_since

    def _settle(self, now: float) -> None:
        quiet_since = max(self._last_behind, self._throttle.pause_until)
        if self._behind_since is not None and self._backlog == 0 and now - quiet_since > self.congestion_settle_s:
            self._behind_since = None

    def _note_behind(self, now: float) -> None:
        self._settle(now)
        if self._behind_since is None:
            self._behind_since = now
        self._last_behind = now

    async def start(self) -> None:
        """Start connecting and binding in the background (returns at once; see :meth:`wait_bound`)."""
        if self._task is None:
            self._stopping = False
            self._stop_event.clear()
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def wait_bound(self, timeout: float | None = None) -> bool:
        """Wait until bound; False when ``timeout`` passed first."""
        try:
            await asyncio.wait_for(self.bound_event.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def close(self, timeout: float = 5.0) -> None:
        """Stop reconnecting; let running deliver callbacks finish, unbind, and close the connection."""
        self._stopping = True
        self._stop_event.set()
        session = self._session
        if session is not None:
            tasks = list(session._handler_tasks)
            if tasks:
                await asyncio.wait(tasks, timeout=timeout)
            await session.unbind(timeout=min(timeout, 2.0))
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def __aenter__(self) -> SmppClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _set_bound(self, session: SmppSession | None) -> None:
        self._session = session
        if session is not None:
            self.bound_event.set()
        else:
            self.bound_event.clear()
        if self.on_bound_change is not None:
            try:
                self.on_bound_change(session is not None)
            except Exception:
                log.exception("%s: on_bound_change failed", self.name)

    async def _run(self) -> None:
        attempt = 0
        while not self._stopping:
            try:
                session = await self._connect_and_bind()
            except (OSError, SmppError, TimeoutError) as exc:
                self.last_error = exc
                self.stats["bind_failures"] += 1
                delay = min(self.reconnect_max_s, self.reconnect_min_s * 2**attempt) * random.uniform(0.5, 1.0)
                attempt = min(attempt + 1, 30)
                log.warning("%s: bind failed (%s); retrying in %.2fs", self.name, exc, delay)
                await self._sleep_unless_stopping(delay)
                continue
            attempt = 0
            self.stats["binds"] += 1
            self._set_bound(session)
            log.info("%s: bound as %s", self.name, self.bind_type)
            await asyncio.shield(session.closed)
            self._set_bound(None)
            if not self._stopping:
                log.warning("%s: connection lost", self.name)
                await self._sleep_unless_stopping(self.reconnect_min_s * random.uniform(0.5, 1.0))

    async def _sleep_unless_stopping(self, delay: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_event.wait(), delay)

    async def _connect_and_bind(self) -> SmppSession:
        loop = asyncio.get_running_loop()
        _, session = await asyncio.wait_for(
            loop.create_connection(
                lambda: SmppSession(
                    on_request=self._on_request,
                    window=self.window,
                    request_timeout=self.request_timeout,
                    enquire_interval=self.enquire_interval,
                    name=self.name,
                ),
                self.host,
                self.port,
            ),
            self.connect_timeout,
        )
        bind = _BIND_PDUS[self.bind_type](
            system_id=self.system_id, password=self.password, system_type=self.system_type
        )
        try:
            resp = await session.request(bind, windowed=False, timeout=self.connect_timeout)
        except BaseException:
            session.abort()
            raise
        if resp.status != ESME_ROK:
            session.abort()
            raise BindError(resp.status)
        session.bind_type = self.bind_type
        session.system_id = self.system_id
        return session

    # ------------------------------------------------------------------------------------------- submit
    def _next_reference(self) -> int:
        self._ref = (self._ref + 1) & 0xFF
        return self._ref

    async def submit(
        self,
        src: str,
        dst: str,
        text: str,
        *,
        registered_delivery: bool = True,
        data_coding: int | None = None,
        before_send: Callable[[], Awaitable[None]] | None = None,
        move_after_s: float | None = None,
        elsewhere: Callable[[], bool] | None = None,
    ) -> list[str]:
        """Send ``text`` (all its parts, in order); returns one SMSC message id per part.

        ``before_send`` is awaited once, holding a window slot, right before the first submit_sm is written (the
        dispatcher makes "this may reach the carrier now" durable there); an exception from it sends nothing.

        Raises ``SubmitError`` when the SMSC refuses a part (``permanent`` tells whether to give up), and
        ``ChannelDown`` when not bound or the connection went away (``maybe_sent``/``accepted`` tell how far it
        got). Throttling answers are retried here after a back-off, up to ``max_throttle_wait_s``.

        With ``move_after_s`` and ``elsewhere``: once this submit has waited for its turn (throttling, TPS bucket)
        longer than ``move_after_s`` and ``elsewhere()`` is true, it raises ``Congested`` — only while the SMSC has
        accepted no part of it, so sending it elsewhere duplicates nothing.
        """
        if self.bind_type == "receiver":
            raise SmppError("a receiver bind cannot submit")
        split = split_text(text, data_coding)
        shorts = split.with_udh(self._next_reference()) if split.concatenated else list(split.chunks)
        esm_class = split.esm_class
        src_ton = self.source_ton if self.source_ton is not None else (0 if src.isdigit() else 5)
        src_npi = self.source_npi if self.source_npi is not None else (0 if not src.isdigit() else 1)
        ids: list[str] = []
        move = None
        if move_after_s is not None and elsewhere is not None:
            started = asyncio.get_running_loop().time()
            move = _Move(started, started + move_after_s, elsewhere)
        for short in shorts:
            pdu = SubmitSm(
                source_addr_ton=src_ton,
                source_addr_npi=src_npi,
                source_addr=src,
                dest_addr_ton=self.dest_ton,
                dest_addr_npi=self.dest_npi,
                destination_addr=dst,
                esm_class=esm_class,
                registered_delivery=1 if registered_delivery else 0,
                data_coding=split.data_coding,
                short_message=short,
            )
            ids.append(await self._submit_part(pdu, ids, before_send, move if not ids else None))
            before_send = None
        return ids

    async def _request(
        self, session: SmppSession, pdu: SubmitSm, before_send: Callable[[], Awaitable[None]] | None
    ) -> Pdu:
        if before_send is None:
            return await session.request(pdu)
        await session.acquire()
        try:
            await before_send()
        except BaseException:
            session.release()
            raise
        return await session.send_request(pdu)

    async def _wait_turn(self, move: _Move | None) -> None:
        """Wait out a throttling pause and take a TPS token; while waiting, the submit counts as backlog."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._throttle.pause_until <= now and self._bucket.try_acquire():
            return
        self._note_behind(now)
        self._backlog += 1
        try:
            while (pause := self._throttle.pause_until - loop.time()) > 0:
                await self._wait_or_move(asyncio.sleep(pause), move)
            await self._wait_or_move(self._bucket.acquire(), move)
        finally:
            self._backlog -= 1
            self._last_behind = loop.time()

    @staticmethod
    async def _wait_or_move(waiting: Awaitable[None], move: _Move | None) -> None:
        if move is None:
            await waiting
            return
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(waiting)
        try:
            while True:
                now = loop.time()
                if now >= move.deadline and move.elsewhere():
                    raise Congested(now - move.started)
                done, _ = await asyncio.wait({task}, timeout=max(move.deadline - now, _RECHECK_S))
                if done:
                    task.result()
                    return
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _submit_part(
        self,
        pdu: SubmitSm,
        accepted: list[str],
        before_send: Callable[[], Awaitable[None]] | None = None,
        move: _Move | None = None,
    ) -> str:
        loop = asyncio.get_running_loop()
        first_throttle: float | None = None
        while True:
            await self._wait_turn(move)
            session = self._session
            if session is None or not self.bound_event.is_set():
                raise ChannelDown("not bound", maybe_sent=False, accepted=tuple(accepted))
            sent_at = loop.time()
            try:
                resp = await self._request(session, pdu, before_send)
                before_send = None  # once per message, not again for a throttled retry of the same part
            except ChannelDown as exc:
                raise type(exc)(str(exc), maybe_sent=exc.maybe_sent, accepted=tuple(accepted)) from exc
            status = resp.status
            if status == ESME_ROK and isinstance(resp, SubmitSmResp):
                self.stats["submitted"] += 1
                self._throttle.on_success(loop.time())
                return resp.message_id
            if status in THROTTLING_STATUSES:
                self.stats["throttled"] += 1
                now = loop.time()
                self._note_behind(now)
                first_throttle = now if first_throttle is None else first_throttle
                if self.max_throttle_wait_s is not None and now - first_throttle > self.max_throttle_wait_s:
                    self.stats["submit_errors"] += 1
                    raise SubmitError(ESME_RTHROTTLED, permanent=False, accepted=tuple(accepted))
                self._throttle.on_throttled(sent_at, now)
                continue
            self.stats["submit_errors"] += 1
            raise SubmitError(status if status != ESME_ROK else ESME_RSYSERR, accepted=tuple(accepted))

    # ------------------------------------------------------------------------------------------- deliver
    def _on_request(self, session: SmppSession, pdu: Pdu) -> Awaitable[Pdu | None] | Pdu | None:
        if not isinstance(pdu, DeliverSm | DataSm):
            return pdu.response(ESME_RINVCMDID) if pdu.RESP is not None else None
        try:
            event = self._event_for(pdu)
            result = self.on_deliver(event) if event is not None and self.on_deliver is not None else None
        except Exception:
            log.exception("%s: deliver callback failed; answering ESME_RX_T_APPN so the SMSC retries", self.name)
            return pdu.response(ESME_RX_T_APPN)
        if result is not None and inspect.isawaitable(result):
            return self._respond_after(result, pdu)
        return pdu.response(ESME_ROK)

    @staticmethod
    async def _respond_after(pending: Awaitable[None], pdu: DeliverSm | DataSm) -> Pdu:
        await pending  # an exception here makes the session answer ESME_RX_T_APPN
        # Only now, after the callback has returned (persisted), does the SMSC get its acknowledgement.
        return pdu.response(ESME_ROK)

    def _event_for(self, pdu: DeliverSm | DataSm) -> DeliverEvent | None:
        raw = pdu.payload
        if is_receipt(pdu):
            receipt = receipt_from_pdu(pdu)
            if receipt is None:
                log.warning("%s: unparseable receipt %r", self.name, raw[:200])
            else:
                self.stats["receipts"] += 1
            return DeliverEvent(pdu.source_addr, pdu.destination_addr, receipt=receipt, raw=raw, pdu=pdu)
        concat: Concat | None = None
        payload = raw
        if pdu.esm_class & ESM_CLASS_UDHI:
            try:
                concat, payload = parse_udh(raw)
            except UdhError as exc:
                log.warning("%s: bad UDH in MO (%s); taking the message whole", self.name, exc)
        elif Tag.SAR_MSG_REF_NUM in pdu.tlvs:
            ref, total, seq = (pdu.tlvs.get(t) for t in _SAR_TAGS)
            if isinstance(ref, int) and isinstance(total, int) and isinstance(seq, int):
                concat = Concat(ref, total, seq)
        parts = 1
        if concat is not None and concat.total > 1:
            try:
                chunks = self._reassembler.add((pdu.source_addr, pdu.destination_addr), concat, payload)
            except UdhError as exc:
                log.warning("%s: bad concatenation info in MO (%s)", self.name, exc)
                chunks = [payload]
            if chunks is None:
                return None  # more parts to come: acknowledged now, delivered with the last part
            payload, parts = b"".join(chunks), len(chunks)
        coding = pdu.data_coding if pdu.data_coding is not None else DATA_CODING_DEFAULT
        mo = MoMessage(pdu.source_addr, pdu.destination_addr, decode_text(payload, coding), coding, parts)
        self.stats["mo"] += 1
        return DeliverEvent(pdu.source_addr, pdu.destination_addr, mo=mo, raw=raw)


_SAR_TAGS = (Tag.SAR_MSG_REF_NUM, Tag.SAR_TOTAL_SEGMENTS, Tag.SAR_SEGMENT_SEQNUM)


def _now() -> float:
    """The event loop's clock (the one ``ThrottleControl`` uses), or the same monotonic clock outside a loop."""
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:
        return time.monotonic()
