"""Splitting a TCP byte stream into whole PDUs by their command_length."""

from __future__ import annotations

import struct

from hongyan.smpp.constants import ESME_RINVCMDLEN, HEADER_SIZE
from hongyan.smpp.errors import PduError

DEFAULT_MAX_PDU_SIZE = 65_536
_LENGTH = struct.Struct(">I")


class Framer:
    """Splits a byte stream into whole PDUs by command_length.

    ``feed`` returns the complete frames; a command_length below 16 or above ``max_pdu_size`` leaves the stream
    unsynchronised: the frames before it are returned and ``error`` is set (the session must nack and close).
    """

    __slots__ = ("_buf", "error", "max_pdu_size")

    def __init__(self, max_pdu_size: int = DEFAULT_MAX_PDU_SIZE) -> None:
        self._buf = bytearray()
        self.max_pdu_size = max_pdu_size
        self.error: PduError | None = None

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        if self.error is not None:
            return []
        buf = self._buf
        if buf:
            buf += data
            src: bytes | bytearray = buf
        else:
            src = data
        frames: list[bytes] = []
        off = 0
        total = len(src)
        limit = self.max_pdu_size
        while total - off >= 4:
            (length,) = _LENGTH.unpack_from(src, off)
            if length < HEADER_SIZE or length > limit:
                seq = _LENGTH.unpack_from(src, off + 12)[0] if total - off >= HEADER_SIZE else None
                self.error = PduError(
                    f"command_length {length} outside 16..{limit}", status=ESME_RINVCMDLEN, sequence=seq
                )
                buf.clear()
                return frames
            if total - off < length:
                break
            frames.append(bytes(src[off : off + length]))
            off += length
        if src is buf:
            del buf[:off]
        elif off < total:
            buf += data[off:]
        return frames
