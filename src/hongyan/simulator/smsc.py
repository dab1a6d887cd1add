"""The built-in SMSC: a real SMPP 3.4 server that acks submits, sends receipts from a status mix, throttles,
drops connections and sends MO on command, and counts everything so tests can assert "exactly once".
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime

from hongyan.simulator.mix import StatusMix
from hongyan.smpp.constants import (
    DATA_CODING_DEFAULT,
    ESM_CLASS_DELIVERY_RECEIPT,
    ESM_CLASS_UDHI,
    ESME_RINVPASWD,
    ESME_RINVSYSID,
    ESME_ROK,
    ESME_RTHROTTLED,
    Tag,
)
from hongyan.smpp.encoding import Concat, Reassembler, UdhError, decode_text, parse_udh, split_text
from hongyan.smpp.pdu import DeliverSm, NetworkErrorCode, SubmitSm
from hongyan.smpp.ratelimit import TokenBucket
from hongyan.smpp.receipts import build_receipt_text, message_state_for
from hongyan.smpp.server import BindRequest, SmppServer
from hongyan.smpp.session import HandlerResult, SmppSession

DEFAULT_SYSTEM_ID = "hongyan"
DEFAULT_PASSWORD = "hongyan"
DEFAULT_MO_ADDRESS = "10690000"


@dataclass(slots=True)
class ReceivedPart:
    """One submit_sm as the simulator received it."""

    message_id: str
    system_id: str
    source_addr: str
    destination_addr: str
    esm_class: int
    data_coding: int
    short_message: bytes
    concat: Concat | None
    registered_delivery: int
    received_at: float

    @property
    def udh(self) -> bytes:
        if self.esm_class & ESM_CLASS_UDHI and self.short_message:
            return self.short_message[: 1 + self.short_message[0]]
        return b""

    def as_json(self) -> dict[str, object]:
        return {
            "message_id": self.message_id,
            "source_addr": self.source_addr,
            "destination_addr": self.destination_addr,
            "esm_class": self.esm_class,
            "data_coding": self.data_coding,
            "udh": self.udh.hex(),
            "short_message": self.short_message.hex(),
            "concat": None
            if self.concat is None
            else {"reference": self.concat.reference, "total": self.concat.total, "seq": self.concat.seq},
        }


@dataclass(slots=True)
class SimulatorStats:
    binds: int = 0
    bind_refusals: int = 0
    submits: int = 0  # submit_sm accepted (parts)
    messages: int = 0  # whole messages (after reassembly)
    throttled: int = 0
    rejected: int = 0
    dlrs_scheduled: int = 0
    dlrs_delivered: int = 0
    mo_sent: int = 0
    drops: int = 0
    dlr_stats: Counter[str] = field(default_factory=Counter)


class Simulator(SmppServer):
    """``Simulator(host, port, system_id, password, dlr_delay_s=…, status_mix=…, max_tps=…, seed=…)``.

    ``resp_delay_s`` holds each submit_sm_resp back (to make the client's window visible at the server);
    ``reject`` maps destination numbers to a submit_sm_resp error status; ``id_format`` is "hex" or "decimal".
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        system_id: str = DEFAULT_SYSTEM_ID,
        password: str = DEFAULT_PASSWORD,
        *,
        dlr_delay_s: float = 0.05,
        status_mix: str | StatusMix = "DELIVRD:1.0",
        max_tps: float | None = None,
        seed: int | None = None,
        resp_delay_s: float = 0.0,
        id_format: str = "hex",
        window: int = 10,
        max_binds: int | None = None,
        reject: dict[str, int] | None = None,
        keep_parts: int = 200_000,
        accounts: dict[str, str] | None = None,
    ) -> None:
        super().__init__(host, port, smsc_id="hongyan-sim", window=window, max_binds=max_binds)
        if id_format not in ("hex", "decimal"):
            raise ValueError("id_format must be 'hex' or 'decimal'")
        self.accounts = {system_id: password, **(accounts or {})}
        self.system_id = system_id
        self.dlr_delay_s = dlr_delay_s
        self.resp_delay_s = resp_delay_s
        self.id_format = id_format
        self.reject = dict(reject or {})
        self._rng = random.Random(seed)
        self.status_mix = status_mix if isinstance(status_mix, StatusMix) else StatusMix.parse(status_mix)
        self._sampler = self.status_mix.sampler(self._rng)
        self._throttle = TokenBucket(max_tps, burst=max(1.0, max_tps / 10)) if max_tps else None
        self.max_tps = max_tps
        self._id_base = self._rng.getrandbits(28) << 32
        self._id_counter = 0
        self.stats = SimulatorStats()
        self.parts: deque[ReceivedPart] = deque(maxlen=keep_parts)
        self.submits_by_destination: Counter[str] = Counter()
        self.messages_by_destination: Counter[str] = Counter()
        self.messages_by_text: Counter[str] = Counter()
        self.inflight = 0
        self.peak_inflight = 0
        self._reassembler = Reassembler()
        self._minute_key, self._minute_text = -1, ""

    # ------------------------------------------------------------------------------------------- config
    def configure(
        self,
        *,
        status_mix: str | None = None,
        dlr_delay_s: float | None = None,
        max_tps: float | str | None = "keep",
        resp_delay_s: float | None = None,
    ) -> None:
        """Change behaviour at run time (``max_tps=None`` removes the limit; omit it to keep the current one)."""
        if status_mix is not None:
            self.status_mix = StatusMix.parse(status_mix)
            self._sampler = self.status_mix.sampler(self._rng)
        if dlr_delay_s is not None:
            self.dlr_delay_s = max(0.0, float(dlr_delay_s))
        if resp_delay_s is not None:
            self.resp_delay_s = max(0.0, float(resp_delay_s))
        if max_tps != "keep":
            rate = float(max_tps) if max_tps else None
            self.max_tps = rate
            self._throttle = TokenBucket(rate, burst=max(1.0, rate / 10)) if rate else None

    def reset_counters(self) -> None:
        self.stats = SimulatorStats()
        self.parts.clear()
        self.submits_by_destination.clear()
        self.messages_by_destination.clear()
        self.messages_by_text.clear()
        self.peak_inflight = self.inflight

    # ------------------------------------------------------------------------------------------- binds
    def check_bind(self, request: BindRequest) -> int:
        expected = self.accounts.get(request.system_id)
        if expected is None:
            status = ESME_RINVSYSID
        elif request.password != expected:
            status = ESME_RINVPASWD
        else:
            status = ESME_ROK
        if status != ESME_ROK:
            self.stats.bind_refusals += 1
        return status

    def on_bound(self, session: SmppSession) -> None:
        self.stats.binds += 1

    def drop_connections(self) -> int:
        self.stats.drops += 1
        return super().drop_connections()

    # ------------------------------------------------------------------------------------------- submit
    def _next_id(self) -> str:
        self._id_counter += 1
        value = self._id_base | self._id_counter
        return format(value, "x") if self.id_format == "hex" else str(value)

    def handle_submit(self, session: SmppSession, pdu: SubmitSm) -> HandlerResult:
        if self._throttle is not None and not self._throttle.try_acquire():
            self.stats.throttled += 1
            return pdu.response(ESME_RTHROTTLED)
        status = self.reject.get(pdu.destination_addr)
        if status is not None:
            self.stats.rejected += 1
            return pdu.response(status)
        message_id = self._next_id()
        payload = pdu.payload
        concat: Concat | None = None
        body = payload
        if pdu.esm_class & ESM_CLASS_UDHI:
            try:
                concat, body = parse_udh(payload)
            except UdhError:
                concat = None
        elif Tag.SAR_MSG_REF_NUM in pdu.tlvs:
            ref, total, seq = (pdu.tlvs.get(t) for t in _SAR_TAGS)
            if isinstance(ref, int) and isinstance(total, int) and isinstance(seq, int):
                concat = Concat(ref, total, seq)
        now = time.time()
        self.parts.append(
            ReceivedPart(
                message_id,
                session.system_id,
                pdu.source_addr,
                pdu.destination_addr,
                pdu.esm_class,
                pdu.data_coding,
                payload,
                concat,
                pdu.registered_delivery,
                now,
            )
        )
        self.stats.submits += 1
        self.submits_by_destination[pdu.destination_addr] += 1
        self._count_message(session, pdu, concat, body)
        if pdu.registered_delivery & 0x03:
            self._schedule_receipt(session.system_id, pdu, message_id, now)
        resp = pdu.response(ESME_ROK, message_id=message_id)
        if self.resp_delay_s <= 0:
            return resp
        self.inflight += 1
        self.peak_inflight = max(self.peak_inflight, self.inflight)
        asyncio.get_running_loop().call_later(self.resp_delay_s, self._send_late, session, resp)
        return None

    def _send_late(self, session: SmppSession, resp: object) -> None:
        self.inflight -= 1
        session.send(resp)  # type: ignore[arg-type]

    def _count_message(self, session: SmppSession, pdu: SubmitSm, concat: Concat | None, body: bytes) -> None:
        if concat is not None and concat.total > 1:
            key = (session.system_id, pdu.source_addr, pdu.destination_addr)
            try:
                chunks = self._reassembler.add(key, concat, body)
            except UdhError:
                chunks = [body]
            if chunks is None:
                return
            body = b"".join(chunks)
        text = decode_text(body, pdu.data_coding)
        self.stats.messages += 1
        self.messages_by_destination[pdu.destination_addr] += 1
        self.messages_by_text[text] += 1

    # ------------------------------------------------------------------------------------------- receipts
    def _schedule_receipt(self, system_id: str, pdu: SubmitSm, message_id: str, submitted: float) -> None:
        stat = self._sampler.draw()
        if pdu.registered_delivery & 0x03 == 2 and stat == "DELIVRD":
            return  # receipts asked for failures only
        self.stats.dlrs_scheduled += 1
        receipt = DeliverSm(
            source_addr=pdu.destination_addr,
            source_addr_ton=pdu.dest_addr_ton,
            source_addr_npi=pdu.dest_addr_npi,
            destination_addr=pdu.source_addr,
            dest_addr_ton=pdu.source_addr_ton,
            dest_addr_npi=pdu.source_addr_npi,
            esm_class=ESM_CLASS_DELIVERY_RECEIPT,
            data_coding=DATA_CODING_DEFAULT,
        )
        receipt.tlvs[Tag.RECEIPTED_MESSAGE_ID] = message_id
        receipt.tlvs[Tag.MESSAGE_STATE] = message_state_for(stat)
        delivered = stat == "DELIVRD"
        if not delivered:
            receipt.tlvs[Tag.NETWORK_ERROR_CODE] = NetworkErrorCode(3, 1)
        sample = pdu.short_message if pdu.data_coding == DATA_CODING_DEFAULT and not pdu.esm_class else b""
        submitted_at = self._minute(submitted)
        if self.dlr_delay_s <= 0:
            self._emit_receipt(system_id, receipt, message_id, stat, submitted_at, sample)
        else:
            asyncio.get_running_loop().call_later(
                self.dlr_delay_s, self._emit_receipt, system_id, receipt, message_id, stat, submitted_at, sample
            )

    def _minute(self, t: float) -> str:
        """``YYMMDDhhmm`` of a Unix time, formatted once per minute."""
        key = int(t // 60)
        if key != self._minute_key:
            self._minute_key, self._minute_text = key, datetime.fromtimestamp(t).strftime("%y%m%d%H%M")
        return self._minute_text

    def _emit_receipt(
        self, system_id: str, receipt: DeliverSm, message_id: str, stat: str, submitted_at: str, sample: bytes
    ) -> None:
        text = build_receipt_text(
            message_id,
            stat,
            err="000" if stat == "DELIVRD" else "001",
            submitted_at=submitted_at,
            done_at=self._minute(time.time()),
            text=decode_text(sample, DATA_CODING_DEFAULT) if sample else "",
        )
        receipt.short_message = text.encode("latin-1", "replace")[:254]
        self.stats.dlr_stats[stat] += 1
        self.enqueue_deliver(system_id, receipt)

    def on_delivered(self, session: SmppSession, pdu: DeliverSm, resp: object) -> None:
        if pdu.esm_class & ESM_CLASS_DELIVERY_RECEIPT:
            self.stats.dlrs_delivered += 1

    # ------------------------------------------------------------------------------------------- MO
    def send_mo(self, mobile: str, text: str, *, to: str = DEFAULT_MO_ADDRESS, system_id: str | None = None) -> int:
        """Queue an MO message from ``mobile`` (split with UDH when long); returns the number of parts."""
        split = split_text(text)
        shorts = split.with_udh(self._rng.randrange(256))
        for short in shorts:
            self.enqueue_deliver(
                system_id or self.system_id,
                DeliverSm(
                    source_addr=mobile,
                    source_addr_ton=1 if mobile.isdigit() else 0,
                    source_addr_npi=1 if mobile.isdigit() else 0,
                    destination_addr=to,
                    esm_class=split.esm_class,
                    data_coding=split.data_coding,
                    short_message=short,
                ),
            )
        self.stats.mo_sent += 1
        return len(shorts)

    # ------------------------------------------------------------------------------------------- reporting
    def parts_for(self, destination: str) -> list[ReceivedPart]:
        return [p for p in self.parts if p.destination_addr == destination]

    def snapshot(self, *, full: bool = False) -> dict[str, object]:
        """Counters as JSON-ready data (``full`` adds the per-destination and per-text counters)."""
        s = self.stats
        out: dict[str, object] = {
            "port": self.port,
            "bound": len(self.bound_sessions()),
            "connections": len(self.sessions),
            "binds": s.binds,
            "bind_refusals": s.bind_refusals,
            "submits": s.submits,
            "messages": s.messages,
            "throttled": s.throttled,
            "rejected": s.rejected,
            "dlrs_scheduled": s.dlrs_scheduled,
            "dlrs_delivered": s.dlrs_delivered,
            "dlrs_pending": self.pending_deliveries(),
            "dlr_stats": dict(s.dlr_stats),
            "mo_sent": s.mo_sent,
            "drops": s.drops,
            "inflight": self.inflight,
            "peak_inflight": self.peak_inflight,
            "duplicate_destinations": {k: v for k, v in self.messages_by_destination.items() if v > 1},
            "duplicate_texts": {k: v for k, v in self.messages_by_text.items() if v > 1},
            "config": {
                "status_mix": str(self.status_mix),
                "dlr_delay_s": self.dlr_delay_s,
                "max_tps": self.max_tps,
                "resp_delay_s": self.resp_delay_s,
            },
        }
        if full:
            out["submits_by_destination"] = dict(self.submits_by_destination)
            out["messages_by_destination"] = dict(self.messages_by_destination)
            out["messages_by_text"] = dict(self.messages_by_text)
        return out


_SAR_TAGS = (Tag.SAR_MSG_REF_NUM, Tag.SAR_TOTAL_SEGMENTS, Tag.SAR_SEGMENT_SEQNUM)
