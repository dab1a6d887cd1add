"""Delivery receipt parsing (text, leniently, and TLVs) and building; build → parse round trip."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from hongyan.smpp.constants import ESM_CLASS_DELIVERY_RECEIPT, MessageState, Tag
from hongyan.smpp.pdu import DeliverSm, NetworkErrorCode
from hongyan.smpp.receipts import (
    Receipt,
    build_receipt_text,
    is_receipt,
    parse_receipt_text,
    receipt_from_pdu,
)

CANONICAL = (
    "id:0123456789 sub:001 dlvrd:001 submit date:2401311200 done date:2401311201 stat:DELIVRD err:000 text:Hello"
)


def test_canonical_text() -> None:
    r = parse_receipt_text(CANONICAL)
    assert r == Receipt(
        message_id="0123456789",
        stat="DELIVRD",
        err="000",
        done_at=datetime(2024, 1, 31, 12, 1),
        submitted_at=datetime(2024, 1, 31, 12, 0),
        sub=1,
        dlvrd=1,
        text="Hello",
    )
    assert r.delivered


def test_lenient_variants() -> None:
    r = parse_receipt_text("ID:5F2A Stat:r:00702 ERR:1 Done Date:240131120130")
    assert r is not None
    assert (r.message_id, r.stat, r.err, r.done_at) == ("5F2A", "R:00702", "1", datetime(2024, 1, 31, 12, 1, 30))
    r = parse_receipt_text("stat:UNDELIV id:77 err:  done_date:20240131120130 text:id:not-this-one")
    assert r is not None and (r.message_id, r.stat, r.err) == ("77", "UNDELIV", None)
    assert r.done_at == datetime(2024, 1, 31, 12, 1, 30) and r.text == "id:not-this-one"
    r = parse_receipt_text("id:9 stat:9018 done date:2413999999")  # impossible date → None, not an error
    assert r is not None and r.stat == "9018" and r.done_at is None
    r = parse_receipt_text("id:abc stat:MK:0005", tz=UTC)
    assert r is not None and r.stat == "MK:0005" and r.sub is None
    assert parse_receipt_text("hello, this is an MO message") is None
    assert parse_receipt_text(CANONICAL, tz=UTC).done_at.tzinfo is UTC  # type: ignore[union-attr]


def test_receipt_from_tlvs_only() -> None:
    pdu = DeliverSm(esm_class=ESM_CLASS_DELIVERY_RECEIPT)
    pdu.tlvs[Tag.RECEIPTED_MESSAGE_ID] = "abc123"
    pdu.tlvs[Tag.MESSAGE_STATE] = MessageState.UNDELIVERABLE
    pdu.tlvs[Tag.NETWORK_ERROR_CODE] = NetworkErrorCode(3, 11)
    assert is_receipt(pdu)
    assert receipt_from_pdu(pdu) == Receipt(message_id="abc123", stat="UNDELIV", err="011")


def test_tlv_id_wins_and_text_stat_is_kept() -> None:
    pdu = DeliverSm(
        esm_class=ESM_CLASS_DELIVERY_RECEIPT, short_message=CANONICAL.replace("DELIVRD", "R:00702").encode()
    )
    pdu.tlvs[Tag.RECEIPTED_MESSAGE_ID] = "1e240"  # hex of the decimal in the text, as some SMSCs do
    pdu.tlvs[Tag.MESSAGE_STATE] = MessageState.UNDELIVERABLE
    r = receipt_from_pdu(pdu)
    assert r is not None and (r.message_id, r.stat, r.err) == ("1e240", "R:00702", "000")


def test_receipt_detection_and_message_payload() -> None:
    mo = DeliverSm(short_message=b"id:1 stat:DELIVRD")
    assert not is_receipt(mo)  # esm_class says MO, whatever the text looks like
    payload = DeliverSm(esm_class=ESM_CLASS_DELIVERY_RECEIPT, tlvs={Tag.MESSAGE_PAYLOAD: CANONICAL.encode()})
    r = receipt_from_pdu(payload)
    assert r is not None and r.message_id == "0123456789"
    assert receipt_from_pdu(DeliverSm(esm_class=ESM_CLASS_DELIVERY_RECEIPT, short_message=b"junk")) is None


def test_build_receipt_text_format() -> None:
    text = build_receipt_text(
        "abc",
        "UNDELIV",
        err="001",
        submitted_at=datetime(2024, 1, 31, 12, 0),
        done_at=datetime(2024, 1, 31, 12, 5),
        text="a long message text that is cut",
    )
    assert text == (
        "id:abc sub:001 dlvrd:000 submit date:2401311200 done date:2401311205 stat:UNDELIV err:001 "
        "text:a long message text "
    )


_token = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=20)


@settings(max_examples=300, deadline=None)
@given(
    message_id=st.one_of(st.integers(0, 2**64).map(str), st.integers(0, 2**64).map(lambda n: format(n, "x")), _token),
    stat=st.one_of(st.sampled_from(["DELIVRD", "UNDELIV", "EXPIRED", "REJECTD", "R:00702", "9018", "MK:0005"]), _token),
    err=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=3),
    done=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)),
    text=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30),
)
def test_build_parse_round_trip(message_id: str, stat: str, err: str, done: datetime, text: str) -> None:
    built = build_receipt_text(message_id, stat, err=err, submitted_at=done, done_at=done, text=text)
    r = parse_receipt_text(built)
    assert r is not None
    assert r.message_id == message_id
    assert r.stat == stat.upper()
    assert r.err == err
    assert r.done_at == done.replace(second=0, microsecond=0)
    assert r.text == text[:20]
