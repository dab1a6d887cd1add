"""The SMPP 3.4 PDUs hongyan uses, as dataclasses: header fields, mandatory parameters, TLVs by tag.

``FIELDS`` lists each PDU's mandatory parameters in wire order for the codec (:mod:`hongyan.smpp.pdu`):
C-octet strings with their maximum size (NUL included) and the command status that answers a bad value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

from hongyan.smpp.constants import (
    ESME_RINVCMDLEN,
    ESME_RINVDSTADR,
    ESME_RINVMSGLEN,
    ESME_RINVPASWD,
    ESME_RINVSRCADR,
    ESME_RINVSYSID,
    ESME_RINVSYSTYP,
    ESME_ROK,
    INTERFACE_VERSION,
    RESPONSE_BIT,
    CommandId,
    Tag,
)


class NetworkErrorCode(NamedTuple):
    """The network_error_code TLV: network type (1 ANSI-136, 2 IS-95, 3 GSM, …) and the network's code."""

    network_type: int
    error_code: int


TlvValue = int | str | bytes | NetworkErrorCode


# Mandatory field kinds: C-octet string (max size includes the NUL), 1-octet integer, sm_length + short_message.
FIELD_C, FIELD_INT, FIELD_SM = 0, 1, 2
_Field = tuple[str, int, int, int]  # name, kind, max size (C strings), status when the field is bad


def _c(name: str, size: int, status: int = ESME_RINVCMDLEN) -> _Field:
    return (name, FIELD_C, size, status)


def _i(name: str) -> _Field:
    return (name, FIELD_INT, 1, ESME_RINVCMDLEN)


@dataclass(slots=True, kw_only=True)
class Pdu:
    """Base of every PDU: header fields (``command_length`` is computed) and optional TLVs by tag."""

    command_id: ClassVar[int] = 0
    FIELDS: ClassVar[tuple[_Field, ...]] = ()
    RESP: ClassVar[type[Pdu] | None] = None

    sequence: int = 0
    status: int = ESME_ROK
    tlvs: dict[int, TlvValue] = field(default_factory=dict)

    @property
    def is_response(self) -> bool:
        return bool(self.command_id & RESPONSE_BIT)

    @property
    def name(self) -> str:
        try:
            return CommandId(self.command_id).name.lower()
        except ValueError:  # pragma: no cover - every class has a known id
            return f"0x{self.command_id:08x}"

    def response(self, status: int = ESME_ROK, **fields: Any) -> Pdu:
        """The response PDU to this request, with the same sequence number."""
        if self.RESP is None:
            raise TypeError(f"{self.name} has no response")
        return self.RESP(sequence=self.sequence, status=status, **fields)


@dataclass(slots=True, kw_only=True)
class GenericNack(Pdu):
    command_id: ClassVar[int] = CommandId.GENERIC_NACK


@dataclass(slots=True, kw_only=True)
class _BindResp(Pdu):
    FIELDS: ClassVar[tuple[_Field, ...]] = (_c("system_id", 16, ESME_RINVSYSID),)
    system_id: str = ""


@dataclass(slots=True, kw_only=True)
class BindTransmitterResp(_BindResp):
    command_id: ClassVar[int] = CommandId.BIND_TRANSMITTER_RESP


@dataclass(slots=True, kw_only=True)
class BindReceiverResp(_BindResp):
    command_id: ClassVar[int] = CommandId.BIND_RECEIVER_RESP


@dataclass(slots=True, kw_only=True)
class BindTransceiverResp(_BindResp):
    command_id: ClassVar[int] = CommandId.BIND_TRANSCEIVER_RESP


@dataclass(slots=True, kw_only=True)
class _Bind(Pdu):
    FIELDS: ClassVar[tuple[_Field, ...]] = (
        _c("system_id", 16, ESME_RINVSYSID),
        _c("password", 9, ESME_RINVPASWD),
        _c("system_type", 13, ESME_RINVSYSTYP),
        _i("interface_version"),
        _i("addr_ton"),
        _i("addr_npi"),
        _c("address_range", 41),
    )
    system_id: str = ""
    password: str = ""
    system_type: str = ""
    interface_version: int = INTERFACE_VERSION
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""


@dataclass(slots=True, kw_only=True)
class BindTransmitter(_Bind):
    command_id: ClassVar[int] = CommandId.BIND_TRANSMITTER
    RESP: ClassVar[type[Pdu] | None] = BindTransmitterResp


@dataclass(slots=True, kw_only=True)
class BindReceiver(_Bind):
    command_id: ClassVar[int] = CommandId.BIND_RECEIVER
    RESP: ClassVar[type[Pdu] | None] = BindReceiverResp


@dataclass(slots=True, kw_only=True)
class BindTransceiver(_Bind):
    command_id: ClassVar[int] = CommandId.BIND_TRANSCEIVER
    RESP: ClassVar[type[Pdu] | None] = BindTransceiverResp


@dataclass(slots=True, kw_only=True)
class UnbindResp(Pdu):
    command_id: ClassVar[int] = CommandId.UNBIND_RESP


@dataclass(slots=True, kw_only=True)
class Unbind(Pdu):
    command_id: ClassVar[int] = CommandId.UNBIND
    RESP: ClassVar[type[Pdu] | None] = UnbindResp


@dataclass(slots=True, kw_only=True)
class EnquireLinkResp(Pdu):
    command_id: ClassVar[int] = CommandId.ENQUIRE_LINK_RESP


@dataclass(slots=True, kw_only=True)
class EnquireLink(Pdu):
    command_id: ClassVar[int] = CommandId.ENQUIRE_LINK
    RESP: ClassVar[type[Pdu] | None] = EnquireLinkResp


@dataclass(slots=True, kw_only=True)
class MessageIdResp(Pdu):
    FIELDS: ClassVar[tuple[_Field, ...]] = (_c("message_id", 65),)
    message_id: str = ""


@dataclass(slots=True, kw_only=True)
class SubmitSmResp(MessageIdResp):
    command_id: ClassVar[int] = CommandId.SUBMIT_SM_RESP


@dataclass(slots=True, kw_only=True)
class DeliverSmResp(MessageIdResp):
    command_id: ClassVar[int] = CommandId.DELIVER_SM_RESP


@dataclass(slots=True, kw_only=True)
class DataSmResp(MessageIdResp):
    command_id: ClassVar[int] = CommandId.DATA_SM_RESP


@dataclass(slots=True, kw_only=True)
class ShortMessagePdu(Pdu):
    FIELDS: ClassVar[tuple[_Field, ...]] = (
        _c("service_type", 6),
        _i("source_addr_ton"),
        _i("source_addr_npi"),
        _c("source_addr", 21, ESME_RINVSRCADR),
        _i("dest_addr_ton"),
        _i("dest_addr_npi"),
        _c("destination_addr", 21, ESME_RINVDSTADR),
        _i("esm_class"),
        _i("protocol_id"),
        _i("priority_flag"),
        _c("schedule_delivery_time", 17),
        _c("validity_period", 17),
        _i("registered_delivery"),
        _i("replace_if_present_flag"),
        _i("data_coding"),
        _i("sm_default_msg_id"),
        ("short_message", FIELD_SM, 254, ESME_RINVMSGLEN),
    )
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""

    @property
    def payload(self) -> bytes:
        """The message bytes: ``short_message``, or the message_payload TLV when that carries them."""
        if not self.short_message:
            value = self.tlvs.get(Tag.MESSAGE_PAYLOAD)
            if isinstance(value, bytes):
                return value
        return self.short_message


@dataclass(slots=True, kw_only=True)
class SubmitSm(ShortMessagePdu):
    command_id: ClassVar[int] = CommandId.SUBMIT_SM
    RESP: ClassVar[type[Pdu] | None] = SubmitSmResp


@dataclass(slots=True, kw_only=True)
class DeliverSm(ShortMessagePdu):
    command_id: ClassVar[int] = CommandId.DELIVER_SM
    RESP: ClassVar[type[Pdu] | None] = DeliverSmResp


@dataclass(slots=True, kw_only=True)
class DataSm(Pdu):
    command_id: ClassVar[int] = CommandId.DATA_SM
    RESP: ClassVar[type[Pdu] | None] = DataSmResp
    FIELDS: ClassVar[tuple[_Field, ...]] = (
        _c("service_type", 6),
        _i("source_addr_ton"),
        _i("source_addr_npi"),
        _c("source_addr", 65, ESME_RINVSRCADR),
        _i("dest_addr_ton"),
        _i("dest_addr_npi"),
        _c("destination_addr", 65, ESME_RINVDSTADR),
        _i("esm_class"),
        _i("registered_delivery"),
        _i("data_coding"),
    )
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    registered_delivery: int = 0
    data_coding: int = 0

    @property
    def payload(self) -> bytes:
        value = self.tlvs.get(Tag.MESSAGE_PAYLOAD)
        return value if isinstance(value, bytes) else b""


PDU_CLASSES: dict[int, type[Pdu]] = {
    cls.command_id: cls
    for cls in (
        GenericNack,
        BindTransmitter,
        BindTransmitterResp,
        BindReceiver,
        BindReceiverResp,
        BindTransceiver,
        BindTransceiverResp,
        Unbind,
        UnbindResp,
        EnquireLink,
        EnquireLinkResp,
        SubmitSm,
        SubmitSmResp,
        DeliverSm,
        DeliverSmResp,
        DataSm,
        DataSmResp,
    )
}

# Responses whose body SMPP 3.4 leaves out when command_status is not ESME_ROK.
BODYLESS_ON_ERROR = frozenset(
    {
        CommandId.BIND_TRANSMITTER_RESP,
        CommandId.BIND_RECEIVER_RESP,
        CommandId.BIND_TRANSCEIVER_RESP,
        CommandId.SUBMIT_SM_RESP,
        CommandId.DATA_SM_RESP,
    }
)
