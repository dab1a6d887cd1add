"""Over real SMPP sockets, through the delivery runtime: an SMSC that throttles slows delivery down without
failing a message, a receipt that cannot be parsed is acknowledged, kept and counted, and receipts that quote
the submit's hex id in decimal still find their message."""

from __future__ import annotations

import asyncio
import json
import time
from typing import ClassVar

from sqlalchemy import func, select

from hongyan.metrics import REGISTRY
from hongyan.services import channels as channel_svc
from hongyan.simulator import Simulator
from hongyan.smpp.constants import ESM_CLASS_DELIVERY_RECEIPT, Tag
from hongyan.smpp.pdu import DeliverSm
from hongyan.store.tables import carrier_ids, messages, pending_receipts, unparsed_deliveries
from hongyan.workers.runtime import DeliveryRuntime
from tests.support import accept_many


async def _runtime(platform, sim: Simulator, **channel) -> DeliveryRuntime:
    await channel_svc.add_channel(
        platform, "sim1", f"127.0.0.1:{sim.port}", password="secret", system_id="hongyan", **channel
    )
    runtime = DeliveryRuntime(platform, reload_s=0.2)
    await runtime.start()
    deadline = time.monotonic() + 10
    while not all(r.channel.available for r in runtime.router.routes) or not runtime.router.routes:
        assert time.monotonic() < deadline, "channel did not bind"
        await asyncio.sleep(0.02)
    platform.writer.on_commit.append(runtime.dispatcher.wake)
    return runtime


async def _until_final(platform, n: int, timeout: float = 60) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while True:
        async with platform.engines.read.connect() as conn:
            states = dict(list(await conn.execute(select(messages.c.state, func.count()).group_by(messages.c.state))))
        if sum(v for k, v in states.items() if k not in ("accepted", "queued", "submitted")) >= n:
            return states
        assert time.monotonic() < deadline, states
        await asyncio.sleep(0.05)


async def test_throttling_smsc_slows_down_and_fails_nothing(platform, live) -> None:
    # the channel is allowed 5,000/s, the SMSC answers ESME_RTHROTTLED above 150/s
    sim = Simulator(system_id="hongyan", password="secret", dlr_delay_s=0.01, max_tps=150, seed=5)
    await sim.start()
    try:
        runtime = await _runtime(platform, sim, window=20, tps=5000)
        await accept_many(platform, live, 300, "1360000")
        states = await _until_final(platform, 300)
        stats = runtime.dispatcher.stats
        await runtime.stop()
    finally:
        await sim.stop()
    assert states == {"delivered": 300}
    assert sim.stats.throttled > 0  # the SMSC did throttle …
    assert sim.stats.messages == 300 and set(sim.messages_by_destination.values()) == {1}  # … nothing twice
    assert stats.retried == 0 and stats.failed == 0 and stats.failovers == 0  # … and nothing failed over it


async def test_unparseable_receipt_is_acked_kept_and_counted(platform, live) -> None:
    sim = Simulator(system_id="hongyan", password="secret", dlr_delay_s=0.01)
    await sim.start()
    counted = REGISTRY.get_sample_value("hongyan_unparsed_deliveries_total", {"channel": "sim1"}) or 0
    try:
        runtime = await _runtime(platform, sim, window=10, tps=1000)
        bad = DeliverSm(
            source_addr="13800138000",
            destination_addr="106",
            esm_class=ESM_CLASS_DELIVERY_RECEIPT,
            short_message=b"\x01garbage without fields",
        )
        bad.tlvs[Tag.MESSAGE_STATE] = 2  # a state but no id
        sim.enqueue_deliver("hongyan", bad)
        deadline = time.monotonic() + 10
        while sim.stats.dlrs_delivered < 1:  # the SMSC got ESME_ROK for it: not redelivered forever
            assert time.monotonic() < deadline, "the receipt was not acknowledged"
            await asyncio.sleep(0.02)
        await runtime.stop()
    finally:
        await sim.stop()
    async with platform.engines.read.connect() as conn:
        rows = list(await conn.execute(select(unparsed_deliveries)))
    assert len(rows) == 1
    row = rows[0]
    assert (row.channel, row.command, row.source_addr, row.esm_class) == ("sim1", "deliver_sm", "13800138000", 4)
    assert bytes.fromhex(row.payload_hex) == b"\x01garbage without fields"
    assert json.loads(row.tlvs) == {f"0x{int(Tag.MESSAGE_STATE):04x}": "2"}
    assert "without a message id" in row.reason
    assert REGISTRY.get_sample_value("hongyan_unparsed_deliveries_total", {"channel": "sim1"}) == counted + 1


async def test_decimal_receipts_for_hex_submit_ids_over_smpp(platform, live) -> None:
    """An SMSC that answers submit_sm in hex and quotes the id in decimal (text and TLV) in its receipts."""

    class DecimalReceipts(Simulator):
        rewritten = 0
        quoted: ClassVar[set[str]] = set()

        def enqueue_deliver(self, system_id: str, pdu: DeliverSm) -> None:
            mid = pdu.tlvs.get(Tag.RECEIPTED_MESSAGE_ID)
            if isinstance(mid, str) and pdu.esm_class & ESM_CLASS_DELIVERY_RECEIPT:
                dec = "000" + str(int(mid, 16))
                self.rewritten += 1
                self.quoted.add(dec.lstrip("0"))
                pdu.tlvs[Tag.RECEIPTED_MESSAGE_ID] = dec
                pdu.short_message = pdu.short_message.replace(f"id:{mid}".encode(), f"id:{dec}".encode())
            super().enqueue_deliver(system_id, pdu)

    sim = DecimalReceipts(system_id="hongyan", password="secret", dlr_delay_s=0.01, id_format="hex", seed=9)
    await sim.start()
    try:
        runtime = await _runtime(platform, sim, window=20, tps=2000)
        await accept_many(platform, live, 50, "1350000")
        states = await _until_final(platform, 50)
        await runtime.stop()
    finally:
        await sim.stop()
    assert states == {"delivered": 50}
    async with platform.engines.read.connect() as conn:
        kept = (await conn.execute(select(func.count()).select_from(pending_receipts))).scalar_one()
        ids = [r.carrier_msg_id for r in await conn.execute(select(carrier_ids.c.carrier_msg_id))]
    assert kept == 0
    assert len(ids) == 50 and sim.rewritten == 50  # every receipt quoted a spelling that was never stored
    assert not set(ids) & sim.quoted
