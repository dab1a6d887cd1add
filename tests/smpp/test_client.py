"""SmppClient against the simulator over real sockets: bind, submit + receipts, window, TPS, throttling,
long messages, reconnect, MO, and the deliver_sm_resp-after-callback rule."""

from __future__ import annotations

import asyncio
import time

import pytest

from hongyan.simulator import Simulator
from hongyan.smpp import BindError, ChannelDown, Congested, DeliverEvent, SubmitError
from hongyan.smpp.constants import (
    DATA_CODING_UCS2,
    ESM_CLASS_UDHI,
    ESME_RBINDFAIL,
    ESME_RINVDSTADR,
    ESME_RINVPASWD,
    ESME_RINVSYSID,
    ESME_RSYSERR,
    ESME_RTHROTTLED,
)
from hongyan.smpp.encoding import parse_udh
from tests.smpp.conftest import PASSWORD, SYSTEM_ID, ClientFactory, Inbox, until


async def test_wrong_password_and_system_id_are_refused(simulator: Simulator, make_client: ClientFactory) -> None:
    bad_password = await make_client(simulator.port, password="wrong", wait=False)
    await until(lambda: bad_password.stats["bind_failures"] >= 1, what="a refused bind")
    assert isinstance(bad_password.last_error, BindError)
    assert bad_password.last_error.status == ESME_RINVPASWD
    assert not bad_password.is_bound
    bad_id = await make_client(simulator.port, system_id="nobody", wait=False)
    await until(lambda: bad_id.stats["bind_failures"] >= 1, what="a refused bind")
    assert isinstance(bad_id.last_error, BindError) and bad_id.last_error.status == ESME_RINVSYSID
    assert simulator.stats.binds == 0 and simulator.stats.bind_refusals >= 2
    with pytest.raises(ChannelDown) as info:
        await bad_password.submit("1069", "13800138000", "hi")
    assert info.value.maybe_sent is False


async def test_bind_limit(make_client: ClientFactory) -> None:
    sim = Simulator(system_id=SYSTEM_ID, password=PASSWORD, max_binds=1)
    await sim.start()
    try:
        first = await make_client(sim.port)
        second = await make_client(sim.port, wait=False)
        await until(lambda: second.stats["bind_failures"] >= 1, what="a refused second bind")
        assert isinstance(second.last_error, BindError) and second.last_error.status == ESME_RBINDFAIL
        assert first.is_bound
    finally:
        await sim.stop()


async def test_submit_and_receipt_round_trip(simulator: Simulator, make_client: ClientFactory, inbox: Inbox) -> None:
    bound: list[bool] = []
    client = await make_client(simulator.port, on_deliver=inbox, on_bound_change=bound.append)
    assert client.is_bound and client.bound_event.is_set() and bound == [True]
    ids = await client.submit("10690001", "13800138000", "Your code is 1234")
    assert len(ids) == 1 and ids[0]
    await until(lambda: len(inbox.receipts) == 1, what="the receipt")
    receipt = inbox.receipts[0]
    assert receipt.message_id == ids[0] and receipt.stat == "DELIVRD" and receipt.err == "000"
    event = inbox.events[0]
    assert (event.kind, event.source_addr, event.destination_addr) == ("receipt", "13800138000", "10690001")
    part = simulator.parts_for("13800138000")[0]
    assert (part.data_coding, part.esm_class, part.short_message) == (0, 0, b"Your code is 1234")
    assert simulator.messages_by_text["Your code is 1234"] == 1


async def test_no_receipt_when_not_requested(simulator: Simulator, make_client: ClientFactory, inbox: Inbox) -> None:
    client = await make_client(simulator.port, on_deliver=inbox)
    await client.submit("1069", "13800000001", "quiet", registered_delivery=False)
    await client.submit("1069", "13800000002", "loud")
    await until(lambda: len(inbox.receipts) == 1, what="one receipt")
    assert simulator.stats.dlrs_scheduled == 1


async def test_status_mix_receipts(make_client: ClientFactory, inbox: Inbox) -> None:
    sim = Simulator(system_id=SYSTEM_ID, password=PASSWORD, dlr_delay_s=0, status_mix="R:00702:1", seed=1)
    await sim.start()
    try:
        client = await make_client(sim.port, on_deliver=inbox)
        await client.submit("1069", "18900000000", "hi")
        await until(lambda: len(inbox.receipts) == 1, what="the receipt")
        assert inbox.receipts[0].stat == "R:00702" and not inbox.receipts[0].delivered
    finally:
        await sim.stop()


async def test_window_is_never_exceeded_at_the_server(make_client: ClientFactory) -> None:
    sim = Simulator(system_id=SYSTEM_ID, password=PASSWORD, resp_delay_s=0.004, dlr_delay_s=0)
    await sim.start()
    try:
        client = await make_client(sim.port, window=10, tps=None)
        results = await asyncio.gather(*(client.submit("1069", f"138{i:08d}", f"m{i}") for i in range(200)))
        assert len({ids[0] for ids in results}) == 200
        assert sim.peak_inflight == 10  # reached, never passed
        assert client.session is not None and client.session.peak_inflight == 10
        assert sim.stats.submits == 200 and max(sim.submits_by_destination.values()) == 1
    finally:
        await sim.stop()


async def test_tps_bucket_paces_submits(simulator: Simulator, make_client: ClientFactory) -> None:
    client = await make_client(simulator.port, tps=100, window=50)
    await asyncio.gather(
        *(client.submit("1069", f"139{i:08d}", f"t{i}", registered_delivery=False) for i in range(110))
    )
    stamps = sorted(p.received_at for p in simulator.parts)
    # skip the initial burst (rate/20 tokens): measure the steady rate over the rest (~1 s)
    steady = stamps[10:]
    rate = (len(steady) - 1) / (steady[-1] - steady[0])
    assert 80 <= rate <= 120, rate


async def test_throttling_backs_off_and_loses_nothing(make_client: ClientFactory) -> None:
    sim = Simulator(system_id=SYSTEM_ID, password=PASSWORD, max_tps=150, dlr_delay_s=0)
    await sim.start()
    try:
        client = await make_client(sim.port, tps=None, window=20, throttle_min_s=0.02)
        results = await asyncio.gather(
            *(client.submit("1069", f"137{i:08d}", f"x{i}", registered_delivery=False) for i in range(150))
        )
        assert all(len(ids) == 1 for ids in results)
        assert sim.stats.throttled > 0 and client.stats["throttled"] == sim.stats.throttled
        assert sim.stats.submits == 150
        assert sorted(sim.submits_by_destination.values()) == [1] * 150
    finally:
        await sim.stop()


async def test_throttled_for_too_long_is_a_transient_error(make_client: ClientFactory) -> None:
    sim = Simulator(system_id=SYSTEM_ID, password=PASSWORD, max_tps=0.01)  # one token, then ~never
    await sim.start()
    try:
        client = await make_client(sim.port, max_throttle_wait_s=0.2, throttle_min_s=0.02)
        await client.submit("1069", "13500000000", "first")
        with pytest.raises(SubmitError) as info:
            await client.submit("1069", "13500000001", "second")
        assert info.value.status == ESME_RTHROTTLED and info.value.permanent is False
        assert sim.stats.submits == 1
    finally:
        await sim.stop()


async def test_held_back_submit_moves_only_when_another_channel_can_take_it(make_client: ClientFactory) -> None:
    sim = Simulator(system_id=SYSTEM_ID, password=PASSWORD, max_tps=0.01)  # one token, then ~never
    await sim.start()
    try:
        client = await make_client(sim.port, throttle_min_s=0.02, throttle_max_s=0.05, congestion_settle_s=0.05)
        await client.submit("1069", "13500000000", "first")
        assert client.congested_for() == 0 and not client.held_back()
        asked: list[bool] = []
        allow = False

        def elsewhere() -> bool:
            asked.append(allow)
            return allow

        waiting = asyncio.create_task(
            client.submit("1069", "13500000001", "second", move_after_s=0.1, elsewhere=elsewhere)
        )
        await until(lambda: len(asked) >= 2, what="the bound to pass and the question to be asked again")
        assert not waiting.done() and client.congested_for() > 0.1  # nowhere else to go: it keeps waiting
        allow = True
        with pytest.raises(Congested):
            await waiting
        assert sim.stats.submits == 1  # the SMSC never accepted the second: safe to send it elsewhere
        # the SMSC recovers: the next submit goes through and the congestion episode ends
        sim.configure(max_tps=None)
        await client.submit("1069", "13500000002", "third")
        await until(lambda: client.congested_for() == 0, what="the congestion to settle")
    finally:
        await sim.stop()


async def test_error_statuses_become_submit_errors(make_client: ClientFactory) -> None:
    sim = Simulator(
        system_id=SYSTEM_ID,
        password=PASSWORD,
        reject={"10000000000": ESME_RINVDSTADR, "10000000001": ESME_RSYSERR},
    )
    await sim.start()
    try:
        client = await make_client(sim.port)
        with pytest.raises(SubmitError) as info:
            await client.submit("1069", "10000000000", "x")
        assert (info.value.status, info.value.permanent) == (ESME_RINVDSTADR, True)
        with pytest.raises(SubmitError) as info:
            await client.submit("1069", "10000000001", "x")
        assert (info.value.status, info.value.permanent) == (ESME_RSYSERR, False)
    finally:
        await sim.stop()


async def test_long_chinese_message_arrives_as_five_ucs2_parts(
    simulator: Simulator, make_client: ClientFactory
) -> None:
    client = await make_client(simulator.port)
    text = "".join(chr(0x4E00 + i) for i in range(300))
    ids = await client.submit("1069", "13900000300", text)
    assert len(ids) == 5 and len(set(ids)) == 5
    parts = simulator.parts_for("13900000300")
    assert len(parts) == 5
    references = set()
    for seq, part in enumerate(parts, 1):
        assert part.data_coding == DATA_CODING_UCS2 and part.esm_class & ESM_CLASS_UDHI
        concat, payload = parse_udh(part.short_message)
        assert concat is not None and (concat.total, concat.seq) == (5, seq)
        assert part.udh == bytes((0x05, 0x00, 0x03, concat.reference, 5, seq))
        assert len(payload) == (134 if seq < 5 else 64)
        references.add(concat.reference)
    assert len(references) == 1
    assert simulator.messages_by_text[text] == 1 and simulator.messages_by_destination["13900000300"] == 1


async def test_reconnect_after_drop_and_in_flight_requests_fail(make_client: ClientFactory) -> None:
    sim = Simulator(system_id=SYSTEM_ID, password=PASSWORD, resp_delay_s=30)
    await sim.start()
    try:
        client = await make_client(sim.port)
        tasks = [asyncio.create_task(client.submit("1069", f"136{i:08d}", "lost?")) for i in range(5)]
        await until(lambda: sim.stats.submits == 5, what="5 submits at the SMSC")
        assert sim.drop_connections() == 1
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, ChannelDown) and r.maybe_sent for r in results), results
        await until(lambda: client.is_bound and sim.stats.binds == 2, what="the client to rebind by itself")
        sim.configure(resp_delay_s=0)
        assert len(await client.submit("1069", "13600000099", "after")) == 1
        assert client.stats["binds"] == 2
    finally:
        await sim.stop()


async def test_channel_down_when_nobody_listens(make_client: ClientFactory) -> None:
    sim = Simulator()
    await sim.start()
    port = sim.port
    await sim.stop()
    client = await make_client(port, wait=False)
    await until(lambda: client.stats["bind_failures"] >= 2, what="retries with backoff")
    assert isinstance(client.last_error, OSError)
    with pytest.raises(ChannelDown) as info:
        await client.submit("1069", "13800138000", "x")
    assert not info.value.maybe_sent and info.value.accepted == ()


async def test_mo_reaches_the_callback(simulator: Simulator, make_client: ClientFactory, inbox: Inbox) -> None:
    await make_client(simulator.port, on_deliver=inbox)
    assert simulator.send_mo("13800138000", "退订") == 1
    long_reply = "谢谢" * 80  # 160 chars → 3 UCS2 parts
    assert simulator.send_mo("13800138001", long_reply, to="106900001") == 3
    await until(lambda: len(inbox.mo) == 2, what="two MO messages")
    first, second = inbox.mo
    assert (first.source_addr, first.text, first.parts) == ("13800138000", "退订", 1)
    assert (second.text, second.parts, second.destination_addr) == (long_reply, 3, "106900001")
    assert inbox.receipts == []


async def test_deliver_resp_is_sent_only_after_the_callback_returns(
    simulator: Simulator, make_client: ClientFactory
) -> None:
    release = asyncio.Event()
    seen: list[DeliverEvent] = []

    async def slow_persist(event: DeliverEvent) -> None:
        seen.append(event)
        await release.wait()

    client = await make_client(simulator.port, on_deliver=slow_persist)
    await client.submit("1069", "13800138000", "durable")
    await until(lambda: len(seen) == 1, what="the callback to start")
    await asyncio.sleep(0.05)  # give a wrong implementation time to acknowledge early
    assert simulator.stats.dlrs_delivered == 0
    release.set()
    await until(lambda: simulator.stats.dlrs_delivered == 1, what="the acknowledgement")


async def test_failing_callback_makes_the_smsc_redeliver(simulator: Simulator, make_client: ClientFactory) -> None:
    simulator.redeliver_delay_s = 0.02
    calls: list[str] = []

    async def flaky(event: DeliverEvent) -> None:
        calls.append(event.kind)
        if len(calls) == 1:
            raise RuntimeError("database is down")

    client = await make_client(simulator.port, on_deliver=flaky)
    await client.submit("1069", "13800138000", "retry me")
    await until(lambda: simulator.stats.dlrs_delivered == 1, what="the redelivered receipt")
    assert calls == ["receipt", "receipt"]


async def test_close_unbinds(simulator: Simulator, make_client: ClientFactory) -> None:
    client = await make_client(simulator.port)
    await until(lambda: len(simulator.bound_sessions()) == 1, what="the bind")
    started = time.perf_counter()
    await client.close()
    assert time.perf_counter() - started < 1.5
    await until(lambda: not simulator.sessions, what="the server side to close")
    assert not client.is_bound
