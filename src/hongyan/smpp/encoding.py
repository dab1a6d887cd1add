"""Text ↔ short_message bytes: GSM 03.38 (with its extension table) or UCS2, concatenation UDH, reassembly.

GSM text travels unpacked, one septet per octet, as SMPP 3.4 carries data_coding 0. Text that is not wholly
representable in GSM 03.38 (Chinese, emoji, …) travels as UCS2 (UTF-16-BE, data_coding 0x08). One message holds
160 septets or 70 UCS2 units; a longer one is split into parts of 153 septets or 67 units, each behind a 6-octet
UDH (IEI 0x00, 8-bit reference, total, sequence). A part never ends inside a GSM escape pair or a UTF-16 surrogate
pair. For text in the Basic Multilingual Plane the UCS2 part count equals the billed segment count (SPEC §7).
"""

from __future__ import annotations

import time
from collections.abc import Hashable
from dataclasses import dataclass

from hongyan.smpp.constants import (
    DATA_CODING_BINARY,
    DATA_CODING_BINARY_8BIT,
    DATA_CODING_DEFAULT,
    DATA_CODING_GBK,
    DATA_CODING_IA5,
    DATA_CODING_LATIN1,
    DATA_CODING_UCS2,
    ESM_CLASS_DEFAULT,
    ESM_CLASS_UDHI,
)

GSM_SINGLE_SEPTETS = 160
GSM_PART_SEPTETS = 153
UCS2_SINGLE_UNITS = 70
UCS2_PART_UNITS = 67
MAX_PARTS = 255
ESCAPE = 0x1B

# GSM 03.38 default alphabet, indexed by septet (0x1B is the escape to the extension table).
GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}

# char → septet string (one char per septet, code point = septet value) for str.translate + latin-1 encode.
_ENCODE: dict[int, str] = {ord(ch): chr(i) for i, ch in enumerate(GSM_BASIC) if i != ESCAPE}
_ENCODE.update({ord(ch): chr(ESCAPE) + chr(code) for code, ch in GSM_EXTENSION.items()})
GSM_CHARS = frozenset(chr(c) for c in _ENCODE)
_DECODE_BASIC = {i: ch for i, ch in enumerate(GSM_BASIC)}
# latin-1 code point → GSM character, for str.translate (the high bit is ignored, as in the loop below)
_DECODE_TABLE = {i: GSM_BASIC[i & 0x7F] for i in range(256)}


class MessageTooLong(ValueError):
    """The text needs more than 255 parts (the 8-bit UDH/SAR total)."""


class UdhError(ValueError):
    """A User Data Header that does not fit its own length octets."""


def is_gsm(text: str) -> bool:
    """True when every character of ``text`` is in the GSM 03.38 default alphabet or its extension table."""
    return GSM_CHARS.issuperset(text)


def gsm_encode(text: str) -> bytes:
    """Unpacked GSM septets (extension characters as 0x1B + code); ``ValueError`` if a char is not GSM."""
    if not is_gsm(text):
        bad = next(ch for ch in text if ch not in GSM_CHARS)
        raise ValueError(f"{bad!r} is not in the GSM 03.38 alphabet")
    return text.translate(_ENCODE).encode("latin-1")


def gsm_decode(data: bytes) -> str:
    """Unpacked septets → text; an unknown extension code shows its basic-table character (GSM 03.38 §6.2.1.1)."""
    if data.find(ESCAPE) < 0 and data.find(ESCAPE | 0x80) < 0:
        return data.decode("latin-1").translate(_DECODE_TABLE)
    out: list[str] = []
    escaped = False
    for octet in data:
        septet = octet & 0x7F
        if escaped:
            out.append(GSM_EXTENSION.get(septet) or _DECODE_BASIC[septet])
            escaped = False
        elif septet == ESCAPE:
            escaped = True
        else:
            out.append(_DECODE_BASIC[septet])
    return "".join(out)


def choose_coding(text: str) -> int:
    """data_coding 0 (GSM) when the whole text is GSM-representable, else 8 (UCS2)."""
    return DATA_CODING_DEFAULT if is_gsm(text) else DATA_CODING_UCS2


def encode_text(text: str, data_coding: int) -> bytes:
    """The bytes of ``text`` in ``data_coding`` (0 GSM, 1 IA5, 3 Latin-1, 8 UCS2, 0x0F GBK)."""
    if data_coding == DATA_CODING_DEFAULT:
        return gsm_encode(text)
    if data_coding == DATA_CODING_UCS2:
        return text.encode("utf-16-be", "surrogatepass")
    if data_coding == DATA_CODING_IA5:
        return text.encode("ascii")
    if data_coding == DATA_CODING_LATIN1:
        return text.encode("latin-1")
    if data_coding == DATA_CODING_GBK:
        return text.encode("gb18030")
    raise ValueError(f"cannot encode text as data_coding 0x{data_coding:02x}")


def decode_text(data: bytes, data_coding: int) -> str:
    """Lenient decoding of received bytes by data_coding; never raises (undecodable bytes become U+FFFD)."""
    if data_coding == DATA_CODING_DEFAULT:
        return gsm_decode(data)
    if data_coding == DATA_CODING_UCS2:
        return data.decode("utf-16-be", "replace")
    if data_coding == DATA_CODING_IA5:
        return data.decode("ascii", "replace")
    if data_coding == DATA_CODING_GBK:
        return data.decode("gb18030", "replace")
    if data_coding in (DATA_CODING_LATIN1, DATA_CODING_BINARY, DATA_CODING_BINARY_8BIT):
        return data.decode("latin-1")
    # GSM 03.38 data coding scheme groups: general (00xx, uncompressed) and message class (1111).
    if data_coding & 0xE0 == 0x00 or data_coding & 0xF0 == 0xF0:
        alphabet = (data_coding >> 2) & 0x03 if data_coding & 0xF0 != 0xF0 else (data_coding >> 2) & 0x01
        if alphabet == 0:
            return gsm_decode(data)
        if alphabet == 2:
            return data.decode("utf-16-be", "replace")
    return data.decode("latin-1")


@dataclass(frozen=True, slots=True)
class SplitMessage:
    """A text encoded and cut into the payloads of its parts (no headers yet)."""

    data_coding: int
    chunks: tuple[bytes, ...]

    @property
    def total(self) -> int:
        return len(self.chunks)

    @property
    def concatenated(self) -> bool:
        return len(self.chunks) > 1

    @property
    def esm_class(self) -> int:
        """esm_class for UDH parts: 0x40 (UDHI) when concatenated."""
        return ESM_CLASS_UDHI if self.concatenated else ESM_CLASS_DEFAULT

    def with_udh(self, reference: int) -> list[bytes]:
        """short_message of each part: the chunk itself, or a concatenation UDH + the chunk."""
        if not self.concatenated:
            return list(self.chunks)
        total = self.total
        return [make_udh(reference, total, seq) + chunk for seq, chunk in enumerate(self.chunks, 1)]


def _split_gsm(septets: bytes) -> list[bytes]:
    chunks: list[bytes] = []
    i, n = 0, len(septets)
    while i < n:
        end = min(i + GSM_PART_SEPTETS, n)
        # Our encoder only emits 0x1B as the lead of an escape pair: never end a part on one.
        if end < n and septets[end - 1] == ESCAPE:
            end -= 1
        chunks.append(septets[i:end])
        i = end
    return chunks


def _split_ucs2(data: bytes) -> list[bytes]:
    chunks: list[bytes] = []
    i, n = 0, len(data)
    step = UCS2_PART_UNITS * 2
    while i < n:
        end = min(i + step, n)
        if end < n and 0xD8 <= data[end - 2] <= 0xDB:  # high surrogate: keep the pair together
            end -= 2
        chunks.append(data[i:end])
        i = end
    return chunks


def split_text(text: str, data_coding: int | None = None) -> SplitMessage:
    """Encode ``text`` (GSM when possible, else UCS2, unless ``data_coding`` is given) and cut it into parts."""
    coding = choose_coding(text) if data_coding is None else data_coding
    data = encode_text(text, coding)
    if coding == DATA_CODING_DEFAULT:
        chunks = [data] if len(data) <= GSM_SINGLE_SEPTETS else _split_gsm(data)
    elif coding == DATA_CODING_UCS2:
        chunks = [data] if len(data) <= UCS2_SINGLE_UNITS * 2 else _split_ucs2(data)
    else:  # 8-bit codings: 140 octets, 134 per part
        chunks = [data] if len(data) <= 140 else [data[i : i + 134] for i in range(0, len(data), 134)]
    if len(chunks) > MAX_PARTS:
        raise MessageTooLong(f"text needs {len(chunks)} parts, more than {MAX_PARTS}")
    return SplitMessage(coding, tuple(chunks))


def count_parts(text: str, data_coding: int | None = None) -> int:
    """How many SMS parts ``text`` is sent as."""
    return split_text(text, data_coding).total


def make_udh(reference: int, total: int, seq: int) -> bytes:
    """Concatenation UDH, 8-bit reference: UDHL 05, IEI 00, IEDL 03, reference, total, sequence (1-based)."""
    return bytes((5, 0, 3, reference & 0xFF, total, seq))


@dataclass(frozen=True, slots=True)
class Concat:
    """Concatenation info of one part (from a UDH or the SAR TLVs)."""

    reference: int
    total: int
    seq: int


def parse_udh(short_message: bytes) -> tuple[Concat | None, bytes]:
    """Split a UDHI short_message into (concatenation info or None, payload). Raises :class:`UdhError`."""
    if not short_message:
        raise UdhError("empty short_message with UDHI set")
    udhl = short_message[0]
    if 1 + udhl > len(short_message):
        raise UdhError(f"UDH length {udhl} runs past the message")
    header, payload = short_message[1 : 1 + udhl], short_message[1 + udhl :]
    concat: Concat | None = None
    i = 0
    while i < len(header):
        if i + 2 > len(header):
            raise UdhError("truncated information element")
        iei, iedl = header[i], header[i + 1]
        value = header[i + 2 : i + 2 + iedl]
        if len(value) != iedl:
            raise UdhError(f"information element 0x{iei:02x} runs past the header")
        if iei == 0x00 and iedl == 3:
            concat = Concat(value[0], value[1], value[2])
        elif iei == 0x08 and iedl == 4:
            concat = Concat((value[0] << 8) | value[1], value[2], value[3])
        i += 2 + iedl
    return concat, payload


class Reassembler:
    """Collects the parts of concatenated messages until each is complete; stale partial messages expire."""

    def __init__(self, ttl_s: float = 600.0, max_pending: int = 100_000) -> None:
        self.ttl_s = ttl_s
        self.max_pending = max_pending
        self._pending: dict[Hashable, tuple[float, dict[int, bytes]]] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, key: Hashable, concat: Concat, payload: bytes) -> list[bytes] | None:
        """Add one part; returns the payloads in order once all ``concat.total`` parts are in, else None."""
        if concat.total <= 1:
            return [payload]
        if not 1 <= concat.seq <= concat.total:
            raise UdhError(f"part {concat.seq} of {concat.total}")
        now = time.monotonic()
        full_key = (key, concat.reference, concat.total)
        entry = self._pending.get(full_key)
        if entry is None:
            if len(self._pending) >= self.max_pending:
                self.expire(now)
            entry = (now, {})
            self._pending[full_key] = entry
        entry[1][concat.seq] = payload
        if len(entry[1]) < concat.total:
            return None
        del self._pending[full_key]
        parts = entry[1]
        return [parts[i] for i in sorted(parts)]

    def expire(self, now: float | None = None) -> int:
        """Drop partial messages older than ``ttl_s`` (and the oldest if still over ``max_pending``)."""
        now = time.monotonic() if now is None else now
        stale = [k for k, (t, _) in self._pending.items() if now - t > self.ttl_s]
        for k in stale:
            del self._pending[k]
        while len(self._pending) >= self.max_pending:
            del self._pending[next(iter(self._pending))]
            stale.append(None)
        return len(stale)
