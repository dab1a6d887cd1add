"""SMPP 3.4 PDU codec: ``encode``/``decode`` for the PDUs of :mod:`hongyan.smpp.commands`, TLVs, a framer.

Every malformed input raises :class:`PduError` (never ``IndexError``/``struct.error``/``UnicodeError``); it
carries the command status to answer with and, when the header could be read, the command id and sequence
number, so a session can answer the right request. The PDU classes and the framer are re-exported here.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from hongyan.smpp.commands import (
    BODYLESS_ON_ERROR,
    FIELD_C,
    FIELD_INT,
    PDU_CLASSES,
    BindReceiver,
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    DataSm,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    NetworkErrorCode,
    Pdu,
    ShortMessagePdu,
    SubmitSm,
    SubmitSmResp,
    TlvValue,
    Unbind,
    UnbindResp,
)
from hongyan.smpp.constants import (
    ESME_RINVCMDID,
    ESME_RINVCMDLEN,
    ESME_RINVMSGLEN,
    ESME_RINVOPTPARSTREAM,
    ESME_RINVPARLEN,
    ESME_ROK,
    HEADER_SIZE,
    Tag,
)
from hongyan.smpp.errors import PduError
from hongyan.smpp.framing import DEFAULT_MAX_PDU_SIZE, Framer

__all__ = [
    "DEFAULT_MAX_PDU_SIZE",
    "PDU_CLASSES",
    "BindReceiver",
    "BindReceiverResp",
    "BindTransceiver",
    "BindTransceiverResp",
    "BindTransmitter",
    "BindTransmitterResp",
    "DataSm",
    "DataSmResp",
    "DeliverSm",
    "DeliverSmResp",
    "EnquireLink",
    "EnquireLinkResp",
    "Framer",
    "GenericNack",
    "NetworkErrorCode",
    "Pdu",
    "PduError",
    "ShortMessagePdu",
    "SubmitSm",
    "SubmitSmResp",
    "TlvValue",
    "Unbind",
    "UnbindResp",
    "decode",
    "encode",
    "peek_header",
]

_HEADER = struct.Struct(">IIII")
_TL = struct.Struct(">HH")
_U16 = struct.Struct(">H")

# How the value of each known TLV is typed; unknown tags keep their raw bytes.
_U8, _U16K, _CSTR, _NEC, _RAW = "u8", "u16", "cstr", "nec", "raw"
_TLV_KINDS: dict[int, str] = {
    Tag.DEST_ADDR_SUBUNIT: _U8,
    Tag.PAYLOAD_TYPE: _U8,
    Tag.RECEIPTED_MESSAGE_ID: _CSTR,
    Tag.USER_MESSAGE_REFERENCE: _U16K,
    Tag.SOURCE_PORT: _U16K,
    Tag.DESTINATION_PORT: _U16K,
    Tag.SAR_MSG_REF_NUM: _U16K,
    Tag.SAR_TOTAL_SEGMENTS: _U8,
    Tag.SAR_SEGMENT_SEQNUM: _U8,
    Tag.SC_INTERFACE_VERSION: _U8,
    Tag.NETWORK_ERROR_CODE: _NEC,
    Tag.MESSAGE_PAYLOAD: _RAW,
    Tag.MORE_MESSAGES_TO_SEND: _U8,
    Tag.MESSAGE_STATE: _U8,
}


def _encode_tlv(tag: int, value: TlvValue) -> bytes:
    kind = _TLV_KINDS.get(tag, _RAW)
    try:
        if kind == _U8 and isinstance(value, int):
            raw = bytes((value,))
        elif kind == _U16K and isinstance(value, int):
            raw = _U16.pack(value)
        elif kind == _CSTR and isinstance(value, str):
            raw = value.encode("latin-1") + b"\x00"
        elif kind == _NEC and isinstance(value, tuple):
            raw = bytes((value[0],)) + _U16.pack(value[1])
        elif kind in (_RAW, _NEC) and isinstance(value, bytes | bytearray):
            raw = bytes(value)
        else:
            raise PduError(f"TLV 0x{tag:04x} cannot hold {type(value).__name__}", status=ESME_RINVPARLEN)
        return _TL.pack(tag, len(raw)) + raw
    except (ValueError, struct.error, OverflowError) as exc:
        if isinstance(exc, PduError):
            raise
        raise PduError(f"TLV 0x{tag:04x} value out of range: {exc}", status=ESME_RINVPARLEN) from None


def _encode_fields(pdu: Pdu) -> bytes:
    """Mandatory parameters by the FIELDS table, with a precise PduError for the first bad one."""
    parts: list[bytes] = []
    for name, kind, size, status in pdu.FIELDS:
        value = getattr(pdu, name)
        try:
            if kind == FIELD_C:
                raw = value.encode("latin-1")
                if len(raw) >= size or b"\x00" in raw:
                    raise PduError(f"{name} is longer than {size - 1} octets or holds NUL", status=status)
                parts.append(raw)
                parts.append(b"\x00")
            elif kind == FIELD_INT:
                parts.append(bytes((value,)))
            else:
                if len(value) > size:
                    raise PduError(f"{name} is longer than {size} octets; use message_payload", status=status)
                parts.append(bytes((len(value),)))
                parts.append(bytes(value))
        except (ValueError, TypeError, AttributeError) as exc:
            if isinstance(exc, PduError):
                raise
            raise PduError(f"{name}: {exc}", status=status) from None
    return b"".join(parts)


def _encode_short_message_fast(p: ShortMessagePdu) -> bytes | None:
    """submit_sm/deliver_sm body in one join; None sends the caller to the checked path (which names the fault)."""
    try:
        st_, sa_, da_ = p.service_type, p.source_addr, p.destination_addr
        sdt_, vp_ = p.schedule_delivery_time, p.validity_period
        # str containment is far cheaper than bytes containment here
        if "\x00" in st_ or "\x00" in sa_ or "\x00" in da_ or "\x00" in sdt_ or "\x00" in vp_:
            return None
        st, sa, da = st_.encode("latin-1"), sa_.encode("latin-1"), da_.encode("latin-1")
        sdt, vp = sdt_.encode("latin-1"), vp_.encode("latin-1")
        sm = p.short_message
        if len(st) > 5 or len(sa) > 20 or len(da) > 20 or len(sdt) > 16 or len(vp) > 16 or len(sm) > 254:
            return None
        return b"".join(
            (
                st,
                b"\x00",
                bytes((p.source_addr_ton, p.source_addr_npi)),
                sa,
                b"\x00",
                bytes((p.dest_addr_ton, p.dest_addr_npi)),
                da,
                b"\x00",
                bytes((p.esm_class, p.protocol_id, p.priority_flag)),
                sdt,
                b"\x00",
                vp,
                b"\x00",
                bytes((p.registered_delivery, p.replace_if_present_flag, p.data_coding, p.sm_default_msg_id, len(sm))),
                sm,
            )
        )
    except (ValueError, TypeError, AttributeError):
        return None


def _encode_message_id_fast(p: SubmitSmResp | DeliverSmResp) -> bytes | None:
    try:
        if "\x00" in p.message_id:
            return None
        raw = p.message_id.encode("latin-1")
    except (UnicodeError, AttributeError, TypeError):
        return None
    return None if len(raw) > 64 else raw + b"\x00"


_FAST_ENCODERS: dict[type[Pdu], Callable[[Any], bytes | None]] = {
    SubmitSm: _encode_short_message_fast,
    DeliverSm: _encode_short_message_fast,
    SubmitSmResp: _encode_message_id_fast,
    DeliverSmResp: _encode_message_id_fast,
}


def encode(pdu: Pdu) -> bytes:
    """The wire bytes of ``pdu`` (header with the computed command_length, body, TLVs)."""
    if pdu.status == ESME_ROK or pdu.command_id not in BODYLESS_ON_ERROR:
        fast = _FAST_ENCODERS.get(type(pdu))
        body = fast(pdu) if fast is not None else None
        if body is None:
            body = _encode_fields(pdu)
        if pdu.tlvs:
            body += b"".join([_encode_tlv(tag, value) for tag, value in pdu.tlvs.items()])
    else:
        body = b""
    try:
        return _HEADER.pack(HEADER_SIZE + len(body), pdu.command_id, pdu.status, pdu.sequence) + body
    except struct.error as exc:
        raise PduError(f"header out of range: {exc}") from None


# ---------------------------------------------------------------------------------------------------- decode


def _decode_tlv(tag: int, raw: bytes, cid: int, seq: int) -> TlvValue:
    kind = _TLV_KINDS.get(tag, _RAW)
    if kind == _RAW:
        return raw
    if kind == _CSTR:
        end = raw.find(b"\x00")
        return (raw if end < 0 else raw[:end]).decode("latin-1")  # lenient: some SMSCs leave out the NUL
    expected = {_U8: 1, _U16K: 2, _NEC: 3}[kind]
    if len(raw) != expected:
        raise PduError(
            f"TLV 0x{tag:04x} has length {len(raw)}, expected {expected}",
            status=ESME_RINVPARLEN,
            command_id=cid,
            sequence=seq,
        )
    if kind == _U8:
        return raw[0]
    if kind == _U16K:
        return (raw[0] << 8) | raw[1]
    return NetworkErrorCode(raw[0], (raw[1] << 8) | raw[2])


def _decode_fields(cls: type[Pdu], frame: bytes, cid: int, seq: int) -> tuple[dict[str, object], int]:
    """Mandatory parameters by the FIELDS table, with a precise PduError for the first bad one."""
    size = len(frame)
    values: dict[str, object] = {}
    off = HEADER_SIZE
    for name, kind, limit, field_status in cls.FIELDS:
        if kind == FIELD_C:
            nul = frame.find(0, off, off + limit)
            if nul < 0:
                reason = "has no NUL" if off + limit > size else f"is longer than {limit - 1} octets"
                raise PduError(f"{name} {reason}", status=field_status, command_id=cid, sequence=seq)
            values[name] = frame[off:nul].decode("latin-1")
            off = nul + 1
        elif off >= size:
            raise PduError(f"body ends before {name}", status=ESME_RINVCMDLEN, command_id=cid, sequence=seq)
        elif kind == FIELD_INT:
            values[name] = frame[off]
            off += 1
        else:
            n = frame[off]
            off += 1
            if off + n > size:
                raise PduError(f"sm_length {n} runs past the PDU", status=ESME_RINVMSGLEN, command_id=cid, sequence=seq)
            values[name] = frame[off : off + n]
            off += n
    return values, off


def _decode_short_message_fast(cls: type[Pdu], frame: bytes) -> tuple[Pdu, int] | None:
    """submit_sm/deliver_sm body by slicing; None sends the caller to the checked path (which names the fault)."""
    find = frame.find
    try:
        e1 = find(0, 16, 22)
        if e1 < 0:
            return None
        e2 = find(0, e1 + 3, e1 + 24)
        if e2 < 0:
            return None
        e3 = find(0, e2 + 3, e2 + 24)
        if e3 < 0:
            return None
        e4 = find(0, e3 + 4, e3 + 21)
        if e4 < 0:
            return None
        e5 = find(0, e4 + 1, e4 + 18)
        if e5 < 0:
            return None
        o = e5 + 1
        rd, rip, dc, smid, n = frame[o : o + 5]
        end = o + 5 + n
        if end > len(frame):
            return None
        p: Any = cls.__new__(cls)
        p.service_type = frame[16:e1].decode("latin-1")
        p.source_addr_ton = frame[e1 + 1]
        p.source_addr_npi = frame[e1 + 2]
        p.source_addr = frame[e1 + 3 : e2].decode("latin-1")
        p.dest_addr_ton = frame[e2 + 1]
        p.dest_addr_npi = frame[e2 + 2]
        p.destination_addr = frame[e2 + 3 : e3].decode("latin-1")
        p.esm_class = frame[e3 + 1]
        p.protocol_id = frame[e3 + 2]
        p.priority_flag = frame[e3 + 3]
        p.schedule_delivery_time = frame[e3 + 4 : e4].decode("latin-1")
        p.validity_period = frame[e4 + 1 : e5].decode("latin-1")
        p.registered_delivery = rd
        p.replace_if_present_flag = rip
        p.data_coding = dc
        p.sm_default_msg_id = smid
        p.short_message = frame[o + 5 : end]
        return p, end
    except (IndexError, ValueError):
        return None


def _decode_message_id_fast(cls: type[Pdu], frame: bytes) -> tuple[Pdu, int] | None:
    end = frame.find(0, 16, 16 + 65)
    if end < 0:
        return None
    p: Any = cls.__new__(cls)
    p.message_id = frame[16:end].decode("latin-1")
    return p, end + 1


_FAST_DECODERS: dict[int, Callable[[type[Pdu], bytes], tuple[Pdu, int] | None]] = {
    SubmitSm.command_id: _decode_short_message_fast,
    DeliverSm.command_id: _decode_short_message_fast,
    SubmitSmResp.command_id: _decode_message_id_fast,
    DeliverSmResp.command_id: _decode_message_id_fast,
}


def _decode_tlvs(frame: bytes, off: int, cid: int, seq: int) -> dict[int, TlvValue]:
    size = len(frame)
    tlvs: dict[int, TlvValue] = {}
    while off < size:
        if off + 4 > size:
            raise PduError("truncated TLV header", status=ESME_RINVOPTPARSTREAM, command_id=cid, sequence=seq)
        tag, n = _TL.unpack_from(frame, off)
        off += 4
        if off + n > size:
            raise PduError(
                f"TLV 0x{tag:04x} runs past the PDU", status=ESME_RINVOPTPARSTREAM, command_id=cid, sequence=seq
            )
        tlvs[tag] = _decode_tlv(tag, frame[off : off + n], cid, seq)
        off += n
    return tlvs


def decode(frame: bytes) -> Pdu:
    """Decode one complete PDU (exactly ``command_length`` bytes); raises :class:`PduError` on bad input."""
    if type(frame) is not bytes:
        frame = bytes(frame)
    size = len(frame)
    if size < HEADER_SIZE:
        raise PduError(f"PDU of {size} octets is shorter than the header", status=ESME_RINVCMDLEN)
    length, cid, status, seq = _HEADER.unpack_from(frame)
    if length != size:
        raise PduError(
            f"command_length {length} but {size} octets", status=ESME_RINVCMDLEN, command_id=cid, sequence=seq
        )
    cls = PDU_CLASSES.get(cid)
    if cls is None:
        raise PduError(f"unknown command_id 0x{cid:08x}", status=ESME_RINVCMDID, command_id=cid, sequence=seq)
    if size == HEADER_SIZE and (not cls.FIELDS or (status != ESME_ROK and cid in BODYLESS_ON_ERROR)):
        return cls(sequence=seq, status=status)
    fast = _FAST_DECODERS.get(cid)
    result = fast(cls, frame) if fast is not None else None
    if result is None:
        values, off = _decode_fields(cls, frame, cid, seq)
        pdu = cls(**values)  # type: ignore[arg-type]
    else:
        pdu, off = result
    pdu.sequence = seq
    pdu.status = status
    pdu.tlvs = _decode_tlvs(frame, off, cid, seq) if off < size else {}
    return pdu


def peek_header(frame: bytes) -> tuple[int, int, int, int]:
    """(command_length, command_id, command_status, sequence_number) of a frame of at least 16 octets."""
    if len(frame) < HEADER_SIZE:
        raise PduError("shorter than the header", status=ESME_RINVCMDLEN)
    return _HEADER.unpack_from(frame)
