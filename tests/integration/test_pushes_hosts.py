"""The pusher's per-host workers and its cycle, against real HTTP receivers on 127.0.0.1: the per-host limit,
hosts that hang or refuse do not hold up the others, stop hands the rows not yet sent back to the outbox, and one
cycle records outcomes and leases in one transaction."""

from __future__ import annotations

import asyncio
import dataclasses
import threading

from sqlalchemy import select

from hongyan.store import outbox as outbox_store
from hongyan.store.accounts import get_account
from hongyan.store.clock import now_ms
from hongyan.store.tables import outbox
from hongyan.workers.pusher import Pusher, PushPolicy
from tests.integration.test_pushes import FAST, _wait
from tests.support import free_port


async def _enqueue(platform, live, url: str, refs: list[str]) -> int:
    async with platform.engines.write.begin() as conn:
        account_id = (await get_account(conn, live.account)).id
        await outbox_store.enqueue(conn, [(account_id, "receipt", r, url, {"smsid": r}) for r in refs])
    return account_id


async def _rows(platform) -> dict[str, dict]:
    async with platform.engines.read.connect() as conn:
        return {r.ref: dict(r._mapping) for r in await conn.execute(select(outbox))}


def _pusher(platform, policy: PushPolicy, **kw) -> Pusher:
    return Pusher(platform.engines.write, skip_locked=not platform.engines.is_sqlite, policy=policy, **kw)


async def test_the_default_per_host_limit_is_reached_and_never_passed(platform, live, receiver) -> None:
    policy = PushPolicy()
    n = policy.per_host * 3
    refs = [f"r{i}" for i in range(n)]
    receiver.hold = threading.Event()  # every request waits: the receiver counts how many are open at once
    await _enqueue(platform, live, receiver.url, refs)
    pusher = _pusher(platform, policy, poll_s=0.01)
    try:
        await pusher.start()
        await _wait(lambda: receiver.received() == policy.per_host)
        assert receiver.active == policy.per_host
        receiver.hold.set()
        await _wait(lambda: receiver.received() == n)
    finally:
        receiver.hold.set()
        await pusher.stop()
    assert receiver.max_active == policy.per_host
    assert sorted(receiver.got) == sorted(refs) and all(len(v) == 1 for v in receiver.got.values())
    assert {r["state"] for r in (await _rows(platform)).values()} == {"delivered"}


async def test_a_refusing_host_does_not_hold_up_another(platform, live, receiver) -> None:
    """Rows for a host that refuses every connection fail and are retried; another host's rows go through."""
    down = f"http://127.0.0.1:{free_port()}/nobody"
    await _enqueue(platform, live, down, [f"down{i}" for i in range(50)])
    await _enqueue(platform, live, receiver.url, [f"up{i}" for i in range(50)])
    pusher = _pusher(platform, FAST, poll_s=0.01)
    await pusher.start()
    try:
        await _wait(lambda: receiver.received() == 50)
    finally:
        await pusher.stop()
    assert sorted(receiver.got) == sorted(f"up{i}" for i in range(50))
    rows = await _rows(platform)
    assert {rows[f"up{i}"]["state"] for i in range(50)} == {"delivered"}
    assert all(rows[f"down{i}"]["attempts"] >= 1 and rows[f"down{i}"]["state"] != "delivered" for i in range(50))


async def test_stop_hands_the_rows_not_yet_sent_back(platform, live, receiver) -> None:
    """A pusher stopped with rows leased but not sent finishes what it is sending and releases the rest: due at
    once, not counted as an attempt, taken by the next pusher without waiting for the (here 10-minute) lease."""
    refs = [f"s{i}" for i in range(10)]
    await _enqueue(platform, live, receiver.url, refs)
    receiver.hold = threading.Event()
    first = _pusher(platform, PushPolicy(per_host=1, host_backlog=20), poll_s=0.01, lease_ms=600_000)
    await first.start()
    try:
        await _wait(lambda: receiver.received() == 1)
        leased = await _rows(platform)
        assert all(r["lease_owner"] == first.owner for r in leased.values())  # all ten held: one sent, nine queued
        stopping = asyncio.ensure_future(first.stop())
        await asyncio.sleep(0)  # stop has begun: the worker sends nothing more once s0 is answered
        assert not stopping.done()
    finally:
        receiver.hold.set()
    await stopping
    rows = await _rows(platform)
    assert rows["s0"]["state"] == "delivered" and rows["s0"]["attempts"] == 1
    back = [rows[r] for r in refs[1:]]
    assert all(r["state"] == "pending" and r["lease_owner"] is None for r in back)
    assert all(r["attempts"] == 0 and r["next_attempt_at"] <= now_ms() for r in back)
    assert receiver.received() == 1

    second = _pusher(platform, FAST, poll_s=0.01, lease_ms=600_000)
    await second.start()
    try:
        await _wait(lambda: receiver.received() == 10)
    finally:
        await second.stop()
    assert sorted(receiver.got) == sorted(refs) and all(len(v) == 1 for v in receiver.got.values())
    assert {r["state"] for r in (await _rows(platform)).values()} == {"delivered"}


async def test_one_cycle_records_hands_back_and_leases(platform, live) -> None:
    url = "http://127.0.0.1:9/x"
    await _enqueue(platform, live, url, ["a", "b", "c", "d"])
    engine, skip = platform.engines.write, not platform.engines.is_sqlite

    async def cycle(owner: str, outcomes: outbox_store.Outcomes, limit: int, lease_ms: int = 60_000) -> list[str]:
        leased = await outbox_store.cycle(
            engine, outcomes, owner=owner, limit=limit, lease_ms=lease_ms, skip_locked=skip
        )
        return [p.ref for p in leased.pushes]

    assert await cycle("w1", outbox_store.Outcomes(), 3) == ["a", "b", "c"]
    assert await cycle("w2", outbox_store.Outcomes(), 10) == ["d"]  # a, b, c are w1's
    rows = await _rows(platform)
    ids = {ref: row["id"] for ref, row in rows.items()}
    # a leased row is next due when its lease ends: outside the index's due range while in flight
    assert all(r["next_attempt_at"] == r["lease_expires_at"] for r in rows.values())
    # w2 cannot record for rows w1 holds
    assert await cycle("w2", outbox_store.Outcomes(delivered=[ids["a"]], released=[ids["b"]]), 0) == []
    assert {r["lease_owner"] for ref, r in (await _rows(platform)).items() if ref in "abc"} == {"w1"}
    # w1: a delivered, b dead, c handed back due at once — and leased again by the same transaction
    outcomes = outbox_store.Outcomes(delivered=[ids["a"]], failed=[(ids["b"], None, "gone")], released=[ids["c"]])
    assert await cycle("w1", outcomes, 10) == ["c"]
    rows = await _rows(platform)
    assert rows["a"]["state"] == "delivered" and rows["a"]["lease_owner"] is None
    assert rows["b"]["state"] == "dead" and rows["b"]["last_error"] == "gone" and rows["b"]["lease_owner"] is None
    assert rows["c"]["lease_owner"] == "w1" and rows["c"]["attempts"] == 1  # the untried lease was not counted
    # a retry is scheduled; a renewal extends only the renewer's own leases
    before = rows["d"]["lease_expires_at"]
    later = now_ms() + 60_000
    await cycle("w1", outbox_store.Outcomes(failed=[(ids["c"], later, "HTTP 500")], renewed=[ids["d"]]), 0, 600_000)
    rows = await _rows(platform)
    assert rows["c"]["state"] == "pending" and rows["c"]["next_attempt_at"] == later and rows["c"]["attempts"] == 1
    assert rows["d"]["lease_expires_at"] == before and rows["d"]["lease_owner"] == "w2"
    await cycle("w2", outbox_store.Outcomes(renewed=[ids["d"]]), 0, 600_000)
    d = (await _rows(platform))["d"]
    assert d["lease_expires_at"] > before + 500_000 and d["next_attempt_at"] == d["lease_expires_at"]


async def test_unsafe_targets_are_dead_letters_at_once(platform, live, receiver) -> None:
    """The SSRF guard at push time: a private address while those are refused, or a scheme that is not http(s),
    is dead-lettered on its first attempt and never sent; the check is per scheme and host."""
    ftp = receiver.url.replace("http://", "ftp://")
    await _enqueue(platform, live, receiver.url, ["private"])
    guarded = _pusher(platform, dataclasses.replace(FAST, allow_private=False), poll_s=0.01)
    await guarded.start()
    try:
        await _wait(lambda: guarded.stats.dead == 1)
    finally:
        await guarded.stop()
    await _enqueue(platform, live, ftp, ["ftp"])
    await _enqueue(platform, live, receiver.url, ["http"])
    pusher = _pusher(platform, FAST, poll_s=0.01)
    await pusher.start()
    try:
        await _wait(lambda: pusher.stats.dead == 1 and pusher.stats.delivered == 1)
    finally:
        await pusher.stop()
    rows = await _rows(platform)
    assert rows["private"]["state"] == "dead" and rows["private"]["attempts"] == 1
    assert "private address" in rows["private"]["last_error"]
    assert rows["ftp"]["state"] == "dead" and rows["ftp"]["attempts"] == 1 and "http(s)" in rows["ftp"]["last_error"]
    assert rows["http"]["state"] == "delivered"
    assert list(receiver.got) == ["http"]


async def test_the_last_error_of_a_failed_push_reads_well(platform, live) -> None:
    """The client's errors go into the outbox row as ``PushHTTPError: …`` / ``PushTimeout: …``."""

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # reads until the pusher gives up and closes; never answers
        writer.close()

    silent = await asyncio.start_server(mute, "127.0.0.1", 0)
    refused = f"http://127.0.0.1:{free_port()}/x"
    await _enqueue(platform, live, refused, ["refused"])
    await _enqueue(platform, live, f"http://127.0.0.1:{silent.sockets[0].getsockname()[1]}/x", ["silent"])
    policy = dataclasses.replace(FAST, timeout_s=0.3, base_s=60.0)
    pusher = _pusher(platform, policy, poll_s=0.01)
    await pusher.start()
    try:
        await _wait(lambda: pusher.stats.failed + pusher.stats.dead == 2)
    finally:
        await pusher.stop()
        silent.close()
    rows = await _rows(platform)
    assert rows["refused"]["last_error"] == f"PushHTTPError: connection refused by {refused[7:-2]}"
    assert rows["silent"]["last_error"] == "PushTimeout: no answer within 0.3 s"
