"""The PDU codec: hand-computed golden bytes, round trips, and bad input that only ever raises PduError."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hongyan.smpp.constants import (
    ESME_RINVCMDID,
    ESME_RINVCMDLEN,
    ESME_RINVDSTADR,
    ESME_RINVMSGLEN,
    ESME_RINVOPTPARSTREAM,
    ESME_RINVPARLEN,
    ESME_RINVPASWD,
    ESME_RINVSYSID,
    ESME_RTHROTTLED,
    Tag,
)
from hongyan.smpp.pdu import (
    BindTransceiver,
    BindTransceiverResp,
    DataSm,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    Framer,
    GenericNack,
    NetworkErrorCode,
    PduError,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    decode,
    encode,
)

H = bytes.fromhex

# ----------------------------------------------------------------------------------------------- golden bytes


def test_enquire_link_golden() -> None:
    assert encode(EnquireLink(sequence=1)) == H("00000010 00000015 00000000 00000001")
    assert decode(H("00000010 00000015 00000000 00000001")) == EnquireLink(sequence=1)


def test_bind_transceiver_golden() -> None:
    pdu = BindTransceiver(sequence=1, system_id="abc", password="pw")
    # 16 header + "abc\0" + "pw\0" + system_type "\0" + interface_version 0x34 + ton + npi + address_range "\0"
    expected = H("0000001C 00000009 00000000 00000001" + "61626300" + "707700" + "00" + "34" + "00" + "00" + "00")
    assert encode(pdu) == expected
    assert decode(expected) == pdu


def test_submit_sm_golden() -> None:
    pdu = SubmitSm(
        sequence=2,
        source_addr_ton=5,
        source_addr="hy",
        dest_addr_ton=1,
        dest_addr_npi=1,
        destination_addr="8613800138000",
        registered_delivery=1,
        data_coding=8,
        short_message="中".encode("utf-16-be"),
    )
    body = (
        "00"  # service_type
        "05 00 687900"  # source ton, npi, "hy"
        "01 01 38363133383030313338303030 00"  # dest ton, npi, "8613800138000"
        "00 00 00"  # esm_class, protocol_id, priority_flag
        "00 00"  # schedule_delivery_time, validity_period
        "01 00 08 00"  # registered_delivery, replace_if_present, data_coding, sm_default_msg_id
        "02 4E2D"  # sm_length, short_message
    )
    expected = H("00000032 00000004 00000000 00000002" + body)
    assert encode(pdu) == expected
    assert decode(expected) == pdu


def test_submit_sm_resp_golden_and_bodyless_error() -> None:
    assert encode(SubmitSmResp(sequence=2, message_id="a1")) == H("00000013 80000004 00000000 00000002 613100")
    # SMPP 3.4 leaves the body out when command_status is not ESME_ROK
    throttled = H("00000010 80000004 00000058 00000003")
    assert encode(SubmitSmResp(sequence=3, status=ESME_RTHROTTLED)) == throttled
    assert decode(throttled) == SubmitSmResp(sequence=3, status=ESME_RTHROTTLED)


def test_deliver_sm_receipt_tlvs_golden() -> None:
    pdu = DeliverSm(sequence=9, esm_class=0x04, short_message=b"x")
    pdu.tlvs[Tag.RECEIPTED_MESSAGE_ID] = "a1"
    pdu.tlvs[Tag.MESSAGE_STATE] = 2
    pdu.tlvs[Tag.NETWORK_ERROR_CODE] = NetworkErrorCode(3, 0x0102)
    body = "00 0000 00 0000 00 04 00 00 00 00 00 00 00 00 01 78"
    tlvs = "001E 0003 613100" + "0427 0001 02" + "0423 0003 030102"
    expected_len = 16 + len(H(body)) + len(H(tlvs))
    expected = H(f"{expected_len:08x} 00000005 00000000 00000009" + body + tlvs)
    assert encode(pdu) == expected
    assert decode(expected) == pdu


def test_generic_nack_golden() -> None:
    assert encode(GenericNack(sequence=2, status=ESME_RINVCMDLEN)) == H("00000010 80000000 00000002 00000002")


# ----------------------------------------------------------------------------------------------- round trips


def test_round_trip_of_every_pdu_kind() -> None:
    pdus = [
        BindTransceiver(sequence=5, system_id="sys", password="pass", system_type="t", addr_ton=1, address_range="1"),
        BindTransceiverResp(sequence=5, system_id="smsc"),
        Unbind(sequence=6),
        DeliverSmResp(sequence=7),
        DataSm(sequence=8, source_addr="1", destination_addr="2", tlvs={Tag.MESSAGE_PAYLOAD: b"payload"}),
        SubmitSm(sequence=0x7FFFFFFF, short_message=b"\x00" * 254, tlvs={Tag.SAR_MSG_REF_NUM: 0xBEEF}),
    ]
    for pdu in pdus:
        assert decode(encode(pdu)) == pdu


_ascii = st.text(st.characters(min_codepoint=1, max_codepoint=127), max_size=5)
_u8 = st.integers(0, 255)


@settings(max_examples=200, deadline=None)
@given(
    service_type=_ascii,
    src=st.text(st.characters(min_codepoint=1, max_codepoint=255), max_size=20),
    dst=st.text(st.characters(min_codepoint=1, max_codepoint=255), max_size=20),
    ints=st.lists(_u8, min_size=10, max_size=10),
    sm=st.binary(max_size=254),
    seq=st.integers(0, 0xFFFFFFFF),
    ref=st.integers(0, 0xFFFF),
    payload=st.binary(max_size=300),
    receipted=st.text(st.characters(min_codepoint=1, max_codepoint=255), max_size=64),
    unknown=st.binary(max_size=8),
)
def test_submit_sm_round_trip_property(service_type, src, dst, ints, sm, seq, ref, payload, receipted, unknown) -> None:
    pdu = SubmitSm(
        sequence=seq,
        service_type=service_type,
        source_addr_ton=ints[0],
        source_addr_npi=ints[1],
        source_addr=src,
        dest_addr_ton=ints[2],
        dest_addr_npi=ints[3],
        destination_addr=dst,
        esm_class=ints[4],
        protocol_id=ints[5],
        priority_flag=ints[6],
        registered_delivery=ints[7],
        data_coding=ints[8],
        sm_default_msg_id=ints[9],
        short_message=sm,
        tlvs={
            Tag.SAR_MSG_REF_NUM: ref,
            Tag.SAR_TOTAL_SEGMENTS: ints[0],
            Tag.MESSAGE_PAYLOAD: payload,
            Tag.RECEIPTED_MESSAGE_ID: receipted,
            Tag.USER_MESSAGE_REFERENCE: ref,
            0x1401: unknown,  # vendor-specific: kept as raw bytes
        },
    )
    assert decode(encode(pdu)) == pdu


# ----------------------------------------------------------------------------------------------- bad input


def test_over_length_c_octet_fields_are_rejected_on_decode_with_their_status() -> None:
    good = encode(BindTransceiver(sequence=4, system_id="x" * 15, password="p" * 8))
    too_long_id = good[:16] + b"x" * 16 + good[16 + 15 :]  # 16 chars where 15 + NUL fit
    frame = struct.pack(">I", len(too_long_id)) + too_long_id[4:]
    with pytest.raises(PduError) as info:
        decode(frame)
    assert info.value.status == ESME_RINVSYSID
    assert info.value.command_id == 0x00000009
    assert info.value.sequence == 4
    body = b"abc\x00" + b"p" * 9 + b"\x00" + b"\x00\x34\x00\x00\x00"
    with pytest.raises(PduError) as info:
        decode(struct.pack(">IIII", 16 + len(body), 9, 0, 1) + body)
    assert info.value.status == ESME_RINVPASWD


def test_over_length_fields_are_rejected_on_encode() -> None:
    with pytest.raises(PduError) as info:
        encode(SubmitSm(destination_addr="1" * 21))
    assert info.value.status == ESME_RINVDSTADR
    with pytest.raises(PduError) as info:
        encode(SubmitSm(short_message=b"x" * 255))
    assert info.value.status == ESME_RINVMSGLEN
    with pytest.raises(PduError):
        encode(SubmitSm(esm_class=256))
    with pytest.raises(PduError):
        encode(SubmitSm(source_addr="中"))
    with pytest.raises(PduError):
        encode(SubmitSm(source_addr="a\x00b"))
    with pytest.raises(PduError) as info:
        encode(SubmitSm(tlvs={Tag.MESSAGE_STATE: "two"}))
    assert info.value.status == ESME_RINVPARLEN


def test_structural_errors_carry_the_right_status() -> None:
    with pytest.raises(PduError) as info:
        decode(H("00000010 00000999 00000000 00000005"))
    assert (info.value.status, info.value.sequence) == (ESME_RINVCMDID, 5)
    with pytest.raises(PduError) as info:
        decode(H("00000011 00000015 00000000 00000005"))  # length says 17, 16 given
    assert info.value.status == ESME_RINVCMDLEN
    with pytest.raises(PduError) as info:
        decode(H("0000000A 00000015 0000"))
    assert info.value.status == ESME_RINVCMDLEN
    sm = encode(SubmitSm(short_message=b"abc"))
    bad_sm_length = sm[:-4] + b"\x09" + sm[-3:]
    with pytest.raises(PduError) as info:
        decode(bad_sm_length)
    assert info.value.status == ESME_RINVMSGLEN
    truncated_tlv = sm + b"\x04\x27\x00"
    with pytest.raises(PduError) as info:
        decode(struct.pack(">I", len(truncated_tlv)) + truncated_tlv[4:])
    assert info.value.status == ESME_RINVOPTPARSTREAM
    wrong_tlv_len = sm + H("0427 0002 0102")
    with pytest.raises(PduError) as info:
        decode(struct.pack(">I", len(wrong_tlv_len)) + wrong_tlv_len[4:])
    assert info.value.status == ESME_RINVPARLEN


def test_every_truncation_and_byte_flip_raises_only_pdu_error() -> None:
    pdu = DeliverSm(sequence=3, source_addr="13800138000", destination_addr="1069", short_message=b"hello")
    pdu.tlvs[Tag.RECEIPTED_MESSAGE_ID] = "abc"
    frame = encode(pdu)
    for cut in range(len(frame)):
        body = frame[:cut]
        fixed = struct.pack(">I", len(body)) + body[4:] if len(body) >= 4 else body
        with contextlib.suppress(PduError):
            decode(fixed)
    for i in range(16, len(frame)):
        for value in (0x00, 0xFF, 0x7F):
            mutated = frame[:i] + bytes((value,)) + frame[i + 1 :]
            with contextlib.suppress(PduError):
                decode(mutated)


@settings(max_examples=500, deadline=None)
@given(
    command_id=st.sampled_from([0x80000000, 1, 0x80000001, 2, 4, 0x80000004, 5, 0x80000005, 6, 9, 0x15, 0x103, 77]),
    status=st.integers(0, 0xFF),
    body=st.binary(max_size=120),
)
def test_random_bodies_decode_or_raise_pdu_error(command_id: int, status: int, body: bytes) -> None:
    frame = struct.pack(">IIII", 16 + len(body), command_id, status, 1) + body
    try:
        pdu = decode(frame)
    except PduError:
        return
    assert pdu.command_id == command_id


# ----------------------------------------------------------------------------------------------- framer


def test_framer_splits_any_chunking() -> None:
    frames = [encode(EnquireLink(sequence=i)) for i in range(1, 4)] + [encode(SubmitSm(sequence=9, short_message=b"x"))]
    stream = b"".join(frames)
    for size in (1, 3, 16, 17, len(stream)):
        framer = Framer()
        out: list[bytes] = []
        for i in range(0, len(stream), size):
            out += framer.feed(stream[i : i + size])
        assert out == frames
        assert framer.buffered == 0 and framer.error is None


def test_framer_rejects_bad_lengths_after_the_good_frames() -> None:
    framer = Framer(max_pdu_size=1024)
    good = encode(EnquireLink(sequence=1))
    assert framer.feed(good + H("00000008 00000015 00000000 00000002")) == [good]
    assert framer.error is not None and framer.error.status == ESME_RINVCMDLEN
    assert framer.feed(good) == []  # the stream is unsynchronised: nothing more comes out
    big = Framer(max_pdu_size=1024)
    assert big.feed(struct.pack(">IIII", 2048, 4, 0, 7)) == []
    assert big.error is not None and big.error.sequence == 7
