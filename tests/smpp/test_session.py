"""The session and server over a raw socket: garbage gets nacked, enquire_link and unbind are answered,
bind state is enforced, writes issued together leave together."""

from __future__ import annotations

import asyncio
import contextlib
import struct

import pytest

from hongyan.simulator import Simulator
from hongyan.smpp.constants import (
    ESME_RALYBND,
    ESME_RINVBNDSTS,
    ESME_RINVCMDID,
    ESME_RINVCMDLEN,
    ESME_RINVSYSID,
    ESME_ROK,
    CommandId,
)
from hongyan.smpp.errors import ChannelDown, RequestTimeout
from hongyan.smpp.pdu import BindTransceiver, EnquireLink, SubmitSm, encode
from hongyan.smpp.session import SmppSession
from tests.smpp.conftest import PASSWORD, SYSTEM_ID, until

Header = tuple[int, int, int, int]


class RawPeer:
    """A plain TCP peer that reads PDUs by their 16-octet header (no hongyan codec on the reading side)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int) -> RawPeer:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read(self, timeout: float = 2.0) -> tuple[Header, bytes]:
        head = await asyncio.wait_for(self.reader.readexactly(16), timeout)
        length, cid, status, seq = struct.unpack(">IIII", head)
        body = await asyncio.wait_for(self.reader.readexactly(length - 16), timeout)
        return (length, cid, status, seq), body

    async def closed_by_peer(self, timeout: float = 2.0) -> bool:
        return await asyncio.wait_for(self.reader.read(), timeout) == b""

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


def bind_bytes(seq: int = 1, system_id: str = SYSTEM_ID, password: str = PASSWORD) -> bytes:
    return encode(BindTransceiver(sequence=seq, system_id=system_id, password=password))


@pytest.fixture
async def peer(simulator: Simulator):
    p = await RawPeer.connect(simulator.port)
    yield p
    await p.close()


async def test_enquire_link_is_answered_even_before_bind(peer: RawPeer) -> None:
    await peer.send(struct.pack(">IIII", 16, 0x15, 0, 42))
    (length, cid, status, seq), body = await peer.read()
    assert (length, cid, status, seq, body) == (16, 0x80000015, 0, 42, b"")


async def test_submit_before_bind_is_refused(peer: RawPeer) -> None:
    await peer.send(encode(SubmitSm(sequence=3, destination_addr="1")))
    (_, cid, status, seq), _ = await peer.read()
    assert (cid, status, seq) == (CommandId.SUBMIT_SM_RESP, ESME_RINVBNDSTS, 3)


async def test_bind_then_double_bind(peer: RawPeer) -> None:
    await peer.send(bind_bytes(1))
    (_, cid, status, _), body = await peer.read()
    assert (cid, status) == (CommandId.BIND_TRANSCEIVER_RESP, ESME_ROK)
    assert body.startswith(b"hongyan-sim\x00")
    await peer.send(bind_bytes(2))
    (_, cid, status, seq), _ = await peer.read()
    assert (cid, status, seq) == (CommandId.BIND_TRANSCEIVER_RESP, ESME_RALYBND, 2)


async def test_over_length_system_id_is_answered_with_its_status(peer: RawPeer) -> None:
    body = b"x" * 20 + b"\x00" + b"pw\x00" + b"\x00" + b"\x34\x00\x00\x00"
    await peer.send(struct.pack(">IIII", 16 + len(body), 9, 0, 5) + body)
    (_, cid, status, seq), _ = await peer.read()
    assert (cid, status, seq) == (CommandId.BIND_TRANSCEIVER_RESP, ESME_RINVSYSID, 5)
    await peer.send(struct.pack(">IIII", 16, 0x15, 0, 6))  # the connection is still usable
    (_, cid, _, seq), _ = await peer.read()
    assert (cid, seq) == (0x80000015, 6)


async def test_unknown_command_gets_generic_nack(peer: RawPeer) -> None:
    await peer.send(struct.pack(">IIII", 20, 0x00000777, 0, 9) + b"abcd")
    (_, cid, status, seq), _ = await peer.read()
    assert (cid, status, seq) == (CommandId.GENERIC_NACK, ESME_RINVCMDID, 9)


async def test_unframeable_length_gets_nack_and_close(peer: RawPeer) -> None:
    await peer.send(struct.pack(">IIII", 8, 0x15, 0, 11))
    (_, cid, status, seq), _ = await peer.read()
    assert (cid, status, seq) == (CommandId.GENERIC_NACK, ESME_RINVCMDLEN, 11)
    assert await peer.closed_by_peer()


async def test_oversized_pdu_is_refused(peer: RawPeer) -> None:
    await peer.send(struct.pack(">IIII", 10_000_000, 4, 0, 12))
    (_, cid, status, _), _ = await peer.read()
    assert (cid, status) == (CommandId.GENERIC_NACK, ESME_RINVCMDLEN)
    assert await peer.closed_by_peer()


async def test_unbind_is_answered_and_closes(peer: RawPeer, simulator: Simulator) -> None:
    await peer.send(bind_bytes(1))
    await peer.read()
    await peer.send(struct.pack(">IIII", 16, 0x06, 0, 2))
    (_, cid, status, seq), _ = await peer.read()
    assert (cid, status, seq) == (CommandId.UNBIND_RESP, ESME_ROK, 2)
    assert await peer.closed_by_peer()
    await until(lambda: not simulator.sessions, what="the server to forget the session")


async def test_pipelined_requests_are_answered_in_order(peer: RawPeer, simulator: Simulator) -> None:
    await peer.send(bind_bytes(1))
    await peer.read()
    burst = b"".join(encode(SubmitSm(sequence=10 + i, destination_addr=f"1380000000{i}")) for i in range(5))
    await peer.send(burst)
    answers = [await peer.read() for _ in range(5)]
    assert [h[3] for h, _ in answers] == [10, 11, 12, 13, 14]
    assert all(h[1] == CommandId.SUBMIT_SM_RESP and h[2] == ESME_ROK for h, _ in answers)


async def test_session_request_timeout_and_window() -> None:
    """A silent peer: requests time out (RequestTimeout, maybe_sent) and free their window slots."""
    accepted: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)
        await reader.read()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    loop = asyncio.get_running_loop()
    _, session = await loop.create_connection(
        lambda: SmppSession(window=2, request_timeout=0.1, enquire_interval=None), "127.0.0.1", port
    )
    try:
        results = await asyncio.gather(*(session.request(EnquireLink()) for _ in range(3)), return_exceptions=True)
        assert all(isinstance(r, RequestTimeout) and r.maybe_sent for r in results)
        assert session.peak_inflight == 2 and session.inflight == 0
    finally:
        session.close()
        await session.wait_closed(1)
        for w in accepted:
            w.close()
        server.close()
        await server.wait_closed()
    with pytest.raises(ChannelDown) as info:
        await session.request(EnquireLink())
    assert info.value.maybe_sent is False
