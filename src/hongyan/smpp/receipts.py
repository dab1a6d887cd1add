"""Delivery receipts: parse the de-facto ``id:… sub:… dlvrd:… submit date:… done date:… stat:… err:… text:…``
format (leniently) and the receipted_message_id / message_state / network_error_code TLVs; build the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, tzinfo
from functools import lru_cache

from hongyan.smpp.constants import (
    ESM_CLASS_DELIVERY_RECEIPT,
    ESM_CLASS_INTERMEDIATE_NOTIFICATION,
    ESM_CLASS_TYPE_MASK,
    MESSAGE_STATE_STAT,
    STAT_MESSAGE_STATE,
    MessageState,
    Tag,
)
from hongyan.smpp.pdu import DataSm, DeliverSm, NetworkErrorCode


@dataclass(slots=True)  # not frozen: a frozen __init__ costs ~4x; made per message
class Receipt:
    """A delivery report. ``stat`` is the carrier's raw word (``DELIVRD``, ``UNDELIV``, ``R:00702``, ``9018``…)."""

    message_id: str
    stat: str
    err: str | None = None
    done_at: datetime | None = None
    submitted_at: datetime | None = None
    sub: int | None = None
    dlvrd: int | None = None
    text: str = ""

    @property
    def delivered(self) -> bool:
        return self.stat.upper() == "DELIVRD"


# The layout nearly every SMSC writes; anything else goes through the lenient field-by-field parse.
_CANONICAL = re.compile(
    r"id:(\S*) sub:(\d*) dlvrd:(\d*) submit date:(\d*) done date:(\d*) stat:(\S*) err:(\S*)(?: text:(.*))?\Z", re.S
)
_KEYS = r"id|sub|dlvrd|submit[ _]date|done[ _]date|stat|err|text"
# A value may follow its colon after spaces, unless what follows is already the next key.
_FIELD = re.compile(rf"(?i)\b(id|sub|dlvrd|submit[ _]date|done[ _]date|stat|err)\s*:\s*(?!(?:{_KEYS})\s*:)(\S*)")
_TEXT = re.compile(r"(?i)\btext\s*:")


@lru_cache(maxsize=256)  # receipts arriving in the same minute share their dates
def _parse_date(value: str, tz: tzinfo | None) -> datetime | None:
    """YYMMDDhhmm, YYMMDDhhmmss or YYYYMMDDhhmmss; None when it is none of these or not a real date."""
    d = value.strip()
    if not d.isdigit() or len(d) not in (10, 12, 14):
        return None
    if len(d) == 14:
        year, d = int(d[:4]), d[2:]
    else:
        year = 2000 + int(d[:2])
    try:
        second = int(d[10:12]) if len(d) == 12 else 0
        return datetime(year, int(d[2:4]), int(d[4:6]), int(d[6:8]), int(d[8:10]), second, tzinfo=tz)
    except ValueError:
        return None


def _parse_int(value: str) -> int | None:
    return int(value) if value.isdigit() else None


def parse_receipt_text(text: str, *, tz: tzinfo | None = None) -> Receipt | None:
    """Parse receipt text; None when it holds neither an id nor a stat.

    Lenient: any case, fields in any order or missing, ``submit_date``/``submit date``, 10-, 12- or 14-digit
    dates (SMSC local time; naive unless ``tz`` is given), hex or decimal ids kept as written.
    """
    canonical = _CANONICAL.match(text)
    if canonical is not None:
        mid, sub, dlvrd, submitted, done, stat, err, body = canonical.groups()
        if mid or stat:
            return Receipt(
                message_id=mid,
                stat=stat.upper(),
                err=err or None,
                done_at=_parse_date(done, tz),
                submitted_at=_parse_date(submitted, tz),
                sub=int(sub) if sub else None,
                dlvrd=int(dlvrd) if dlvrd else None,
                text=body or "",
            )
    head, body = text, ""
    match = _TEXT.search(text)
    if match:
        head, body = text[: match.start()], text[match.end() :]
    fields: dict[str, str] = {}
    for key, value in _FIELD.findall(head):
        fields.setdefault(key.lower().replace("_", " "), value)
    message_id = fields.get("id", "")
    stat = fields.get("stat", "")
    if not message_id and not stat:
        return None
    return Receipt(
        message_id=message_id,
        stat=stat.upper(),
        err=fields.get("err") or None,
        done_at=_parse_date(fields.get("done date", ""), tz),
        submitted_at=_parse_date(fields.get("submit date", ""), tz),
        sub=_parse_int(fields.get("sub", "")),
        dlvrd=_parse_int(fields.get("dlvrd", "")),
        text=body,
    )


def is_receipt(pdu: DeliverSm | DataSm) -> bool:
    """A deliver_sm/data_sm that carries a delivery receipt (esm_class type bits, or receipt TLVs)."""
    kind = pdu.esm_class & ESM_CLASS_TYPE_MASK
    if kind in (ESM_CLASS_DELIVERY_RECEIPT, ESM_CLASS_INTERMEDIATE_NOTIFICATION):
        return True
    return Tag.RECEIPTED_MESSAGE_ID in pdu.tlvs and Tag.MESSAGE_STATE in pdu.tlvs


def receipt_from_pdu(pdu: DeliverSm | DataSm, *, tz: tzinfo | None = None) -> Receipt | None:
    """The receipt carried by ``pdu``: text fields, with the TLVs taking precedence for the id.

    The raw text stat is kept (``R:00702`` says more than message_state 5); message_state fills a missing stat
    and network_error_code a missing err.
    """
    raw = pdu.payload
    parsed = parse_receipt_text(raw.decode("latin-1"), tz=tz) if raw else None
    tlv_id = pdu.tlvs.get(Tag.RECEIPTED_MESSAGE_ID)
    tlv_state = pdu.tlvs.get(Tag.MESSAGE_STATE)
    nec = pdu.tlvs.get(Tag.NETWORK_ERROR_CODE)
    message_id = tlv_id if isinstance(tlv_id, str) and tlv_id else (parsed.message_id if parsed else "")
    stat = parsed.stat if parsed and parsed.stat else ""
    if not stat and isinstance(tlv_state, int):
        stat = MESSAGE_STATE_STAT.get(tlv_state, "UNKNOWN")
    if not message_id or not stat:
        return None
    err = parsed.err if parsed else None
    if err is None and isinstance(nec, NetworkErrorCode) and nec.error_code:
        err = f"{nec.error_code:03d}"
    if parsed is None:
        return Receipt(message_id=message_id, stat=stat, err=err)
    return Receipt(
        message_id=message_id,
        stat=stat,
        err=err,
        done_at=parsed.done_at,
        submitted_at=parsed.submitted_at,
        sub=parsed.sub,
        dlvrd=parsed.dlvrd,
        text=parsed.text,
    )


def message_state_for(stat: str) -> int:
    """The message_state TLV value for a stat word (carrier-specific codes count as UNDELIVERABLE)."""
    return STAT_MESSAGE_STATE.get(stat.upper(), MessageState.UNDELIVERABLE)


def build_receipt_text(
    message_id: str,
    stat: str,
    *,
    err: str = "000",
    submitted_at: datetime | str | None = None,
    done_at: datetime | str | None = None,
    sub: int = 1,
    dlvrd: int | None = None,
    text: str = "",
) -> str:
    """The receipt text an SMSC sends (dates ``YYMMDDhhmm``, or as given when a string; ``text`` cut to 20 chars)."""
    now = datetime.now()
    submitted = submitted_at if isinstance(submitted_at, str) else (submitted_at or now).strftime("%y%m%d%H%M")
    done = done_at if isinstance(done_at, str) else (done_at or now).strftime("%y%m%d%H%M")
    delivered = dlvrd if dlvrd is not None else (sub if stat.upper() == "DELIVRD" else 0)
    return (
        f"id:{message_id} sub:{sub:03d} dlvrd:{delivered:03d} submit date:{submitted} done date:{done}"
        f" stat:{stat} err:{err} text:{text[:20]}"
    )
