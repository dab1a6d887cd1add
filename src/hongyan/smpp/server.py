"""An SMSC server base: accepts ESME connections, authorises binds through a hook, hands submits to a hook,
and delivers deliver_sm to bound receivers/transceivers within each peer's window.

Subclass and override :meth:`SmppServer.check_bind` and :meth:`SmppServer.handle_submit` (the simulator does).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable
from dataclasses import dataclass

from hongyan.smpp.constants import (
    ESME_RALYBND,
    ESME_RBINDFAIL,
    ESME_RINVBNDSTS,
    ESME_RINVCMDID,
    ESME_ROK,
    ESME_RSYSERR,
    Tag,
)
from hongyan.smpp.errors import ChannelDown
from hongyan.smpp.pdu import (
    DEFAULT_MAX_PDU_SIZE,
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    DataSm,
    DeliverSm,
    Pdu,
    PduError,
    SubmitSm,
)
from hongyan.smpp.session import HandlerResult, SmppSession

log = logging.getLogger(__name__)

_BIND_TYPES: dict[type[Pdu], str] = {
    BindTransmitter: "transmitter",
    BindReceiver: "receiver",
    BindTransceiver: "transceiver",
}


@dataclass(frozen=True, slots=True)
class BindRequest:
    system_id: str
    password: str
    system_type: str
    bind_type: str  # "transmitter" | "receiver" | "transceiver"
    peer_ip: str


class SmppServer:
    """Listens on ``host:port`` (port 0 picks a free one: read :attr:`port` after :meth:`start`)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        smsc_id: str = "hongyan",
        window: int = 10,
        max_binds: int | None = None,
        request_timeout: float = 10.0,
        enquire_interval: float | None = 30.0,
        redeliver_delay_s: float = 1.0,
        max_pdu_size: int = DEFAULT_MAX_PDU_SIZE,
    ) -> None:
        self.host = host
        self.port = port
        self.smsc_id = smsc_id
        self.window = window
        self.max_binds = max_binds
        self.request_timeout = request_timeout
        self.enquire_interval = enquire_interval
        self.redeliver_delay_s = redeliver_delay_s
        self.max_pdu_size = max_pdu_size
        self.sessions: set[SmppSession] = set()
        self._server: asyncio.Server | None = None
        self._queues: dict[str, asyncio.Queue[DeliverSm]] = {}
        self._pumps: dict[SmppSession, asyncio.Task[None]] = {}

    # ------------------------------------------------------------------------------------------- hooks
    def check_bind(self, request: BindRequest) -> int | Awaitable[int]:
        """ESME_ROK to accept the bind, or the refusal status (ESME_RINVPASWD, ESME_RINVSYSID, …)."""
        return ESME_ROK

    def handle_submit(self, session: SmppSession, pdu: SubmitSm) -> HandlerResult:
        """Answer a submit_sm: a submit_sm_resp, an awaitable of one, or None to answer later via session.send."""
        return pdu.response(ESME_RSYSERR)

    def handle_data_sm(self, session: SmppSession, pdu: DataSm) -> HandlerResult:
        return pdu.response(ESME_RINVCMDID)

    def on_bound(self, session: SmppSession) -> None:
        """Called after a successful bind."""

    def on_closed(self, session: SmppSession) -> None:
        """Called when a connection goes away (bound or not)."""

    def on_delivered(self, session: SmppSession, pdu: DeliverSm, resp: Pdu) -> None:
        """Called when the ESME acknowledged a deliver_sm with ESME_ROK."""

    # ------------------------------------------------------------------------------------------- running
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._make_session, self.host, self.port)
        sock = self._server.sockets[0]
        self.port = sock.getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and drop every connection."""
        if self._server is not None:
            self._server.close()
        for session in list(self.sessions):
            session.abort()
        for task in list(self._pumps.values()):
            task.cancel()
        if self._pumps:
            await asyncio.gather(*self._pumps.values(), return_exceptions=True)
        for session in list(self.sessions):
            with contextlib.suppress(Exception):
                await session.wait_closed(1.0)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> SmppServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def drop_connections(self) -> int:
        """Abort every connection at once (as a crashing SMSC would); returns how many were dropped."""
        sessions = list(self.sessions)
        for session in sessions:
            session.abort()
        return len(sessions)

    def bound_sessions(self, system_id: str | None = None) -> list[SmppSession]:
        return [s for s in self.sessions if s.bind_type and (system_id is None or s.system_id == system_id)]

    def _make_session(self) -> SmppSession:
        session = SmppSession(
            on_request=self._on_request,
            on_close=self._on_close,
            window=self.window,
            request_timeout=self.request_timeout,
            enquire_interval=self.enquire_interval,
            max_pdu_size=self.max_pdu_size,
            name="smsc",
        )
        self.sessions.add(session)
        return session

    def _on_close(self, session: SmppSession, exc: BaseException | None) -> None:
        self.sessions.discard(session)
        pump = self._pumps.pop(session, None)
        if pump is not None:
            pump.cancel()
        try:
            self.on_closed(session)
        except Exception:  # pragma: no cover
            log.exception("on_closed failed")

    # ------------------------------------------------------------------------------------------- requests
    def _on_request(self, session: SmppSession, pdu: Pdu) -> HandlerResult:
        bind_type = _BIND_TYPES.get(type(pdu))
        if bind_type is not None:
            return self._bind(session, pdu, bind_type)
        if session.bind_type is None:
            return pdu.response(ESME_RINVBNDSTS) if pdu.RESP is not None else None
        if isinstance(pdu, SubmitSm):
            if session.bind_type == "receiver":
                return pdu.response(ESME_RINVBNDSTS)
            return self.handle_submit(session, pdu)
        if isinstance(pdu, DataSm):
            return self.handle_data_sm(session, pdu)
        return pdu.response(ESME_RINVCMDID) if pdu.RESP is not None else None

    async def _bind(self, session: SmppSession, pdu: Pdu, bind_type: str) -> Pdu:
        assert isinstance(pdu, BindTransmitter | BindReceiver | BindTransceiver)
        if session.bind_type is not None:
            return pdu.response(ESME_RALYBND)
        peer_ip = session.peer[0] if session.peer else ""
        request = BindRequest(pdu.system_id, pdu.password, pdu.system_type, bind_type, peer_ip)
        result = self.check_bind(request)
        status = await result if inspect.isawaitable(result) else result
        limit = self.max_binds
        if status == ESME_ROK and limit is not None and len(self.bound_sessions(pdu.system_id)) >= limit:
            status = ESME_RBINDFAIL
        if status != ESME_ROK or not session.connected:
            return pdu.response(status)
        session.bind_type = bind_type
        session.system_id = pdu.system_id
        resp = pdu.response(ESME_ROK, system_id=self.smsc_id)
        resp.tlvs[Tag.SC_INTERFACE_VERSION] = 0x34
        if bind_type != "transmitter":
            queue = self.deliver_queue(pdu.system_id)
            self._pumps[session] = asyncio.get_running_loop().create_task(self._pump(session, queue))
        self.on_bound(session)
        return resp

    # ------------------------------------------------------------------------------------------- deliver
    def deliver_queue(self, system_id: str) -> asyncio.Queue[DeliverSm]:
        queue = self._queues.get(system_id)
        if queue is None:
            queue = self._queues[system_id] = asyncio.Queue()
        return queue

    def enqueue_deliver(self, system_id: str, pdu: DeliverSm) -> None:
        """Queue a deliver_sm for the receivers of ``system_id`` (kept until one is bound and acknowledges it)."""
        self.deliver_queue(system_id).put_nowait(pdu)

    def pending_deliveries(self, system_id: str | None = None) -> int:
        if system_id is not None:
            queue = self._queues.get(system_id)
            return queue.qsize() if queue else 0
        return sum(q.qsize() for q in self._queues.values())

    async def _pump(self, session: SmppSession, queue: asyncio.Queue[DeliverSm]) -> None:
        """Feed one receiver from its system_id's queue, never more than the session window in flight."""
        while session.connected:
            pdu = await queue.get()
            try:
                await session.acquire()
            except ChannelDown:
                queue.put_nowait(pdu)
                return
            except asyncio.CancelledError:
                queue.put_nowait(pdu)
                raise
            try:
                future = session.send_request(pdu)
            except ChannelDown:
                queue.put_nowait(pdu)
                return
            except PduError as exc:
                log.error("dropping a deliver_sm that cannot be encoded: %s", exc)
                continue
            future.add_done_callback(lambda f, s=session, p=pdu, q=queue: self._delivered(s, p, q, f))

    def _delivered(
        self, session: SmppSession, pdu: DeliverSm, queue: asyncio.Queue[DeliverSm], future: asyncio.Future[Pdu]
    ) -> None:
        if future.cancelled() or future.exception() is not None:
            queue.put_nowait(pdu)  # the ESME may have it already: at-least-once, as SMSCs do
            return
        resp = future.result()
        if resp.status == ESME_ROK:
            try:
                self.on_delivered(session, pdu, resp)
            except Exception:  # pragma: no cover
                log.exception("on_delivered failed")
            return
        log.info("deliver_sm refused with 0x%08x; redelivering in %.1fs", resp.status, self.redeliver_delay_s)
        asyncio.get_running_loop().call_later(self.redeliver_delay_s, queue.put_nowait, pdu)
