"""Crash test: `hongyan worker dispatch` is killed with SIGKILL mid-burst and started again, against a
`hongyan simulator` process; both are real processes on 127.0.0.1, the database is the test's (SQLite file, or
PostgreSQL when the suite runs there).

What the design guarantees (docs/decisions/0002-submit-crash-window.md), and what is asserted:
- no accepted message is lost: every one ends in a final state;
- every message reaches the carrier exactly once: those that were not in flight at the kill (no
  ``submit_started_at`` mark without a recorded outcome) are sent as new; those that were, and that the carrier
  had, are recorded from their receipts (which the simulator keeps for the next bind, as an SMSC does) instead of
  being sent again; those that never left the killed worker's socket get no receipt and are sent once, after the
  wait, flagged by an audit event;
- states, events, carrier ids and the ledger are consistent (one refund per failed message, balance == ledger).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
from sqlalchemy import func, select

from hongyan.pipeline.context import SubmitRequest
from hongyan.services import channels as channel_svc
from hongyan.services.submit import submit
from hongyan.store.accounts import get_account, ledger_sum
from hongyan.store.delivery import INTERRUPTED, RECONCILED
from hongyan.store.tables import carrier_ids, ledger, message_events, messages, pending_receipts
from tests.conftest import SIGNATURE
from tests.support import free_port

BIN = Path(sys.executable).parent
N = 600
FINAL = {"delivered", "undelivered", "expired", "rejected", "failed"}


def _start(args: list[str], env: dict[str, str], cwd: Path, log_name: str) -> subprocess.Popen:
    log = open(cwd / log_name, "ab")  # noqa: SIM115 - the child holds it; closed when the test ends
    return subprocess.Popen([str(BIN / "hongyan"), *args], env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)


def _end(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


async def _until(check, what: str, timeout: float, *procs: subprocess.Popen):
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        for p in procs:
            assert p.poll() is None, f"{p.args} exited with {p.returncode} while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def _accept(platform, creds, n: int) -> list[str]:
    sem = asyncio.Semaphore(50)

    async def one(i: int) -> str:
        async with sem:
            r = await submit(
                platform,
                SubmitRequest(
                    account=creds.account,
                    password=creds.apikey,
                    mobile=f"1370000{i:04d}",
                    content=f"【{SIGNATURE}】您的订单{i}已发货",
                ),
            )
            assert r.code == 2, r
            return r.smsid

    return await asyncio.gather(*[one(i) for i in range(n)])


async def _rows(platform) -> dict[str, tuple]:
    async with platform.engines.read.connect() as conn:
        rows = await conn.execute(
            select(messages.c.smsid, messages.c.mobile, messages.c.state, messages.c.submit_started_at)
        )
        return {r.smsid: (r.mobile, r.state, r.submit_started_at) for r in rows}


async def test_dispatcher_killed_mid_burst_loses_nothing_and_sends_nothing_twice(
    platform, live, settings, tmp_path
) -> None:
    sim_port, control_port = free_port(), free_port()
    env = {
        **os.environ,
        "HONGYAN_DATABASE_URL": settings.database_url,
        "HONGYAN_VAR_DIR": str(tmp_path),
        "HONGYAN_SECRET_KEY": "test-secret",
        "HONGYAN_DISPATCH_LEASE_S": "2",
        # generous for a loaded CI box: a receipt queued at the SMSC reaches the new worker soon after it binds
        "HONGYAN_INTERRUPTED_RECEIPT_WAIT_S": "15",
        "HONGYAN_LOG_LEVEL": "warning",
        "HONGYAN_LOG_JSON": "false",
    }
    # Each submit_sm_resp is held 0.1 s, so ~40 submits are on the wire at any moment of the burst.
    sim = _start(
        [
            "simulator",
            *("--port", str(sim_port), "--control-port", str(control_port)),
            *("--system-id", "hongyan", "--password", "secret", "--seed", "3", "--window", "50"),
            *("--resp-delay", "0.1", "--dlr-delay", "0.05", "--status-mix", "DELIVRD:0.9,UNDELIV:0.1"),
        ],
        env,
        tmp_path,
        "simulator.log",
    )
    workers: list[subprocess.Popen] = []
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{control_port}", timeout=5) as control:

            async def stats(full: bool = False) -> dict | None:
                try:
                    return (await control.get("/stats", params={"full": "1"} if full else None)).json()
                except httpx.TransportError:
                    return None

            await _until(stats, "the simulator", 30, sim)
            await channel_svc.add_channel(
                platform, "sim1", f"127.0.0.1:{sim_port}", password="secret", system_id="hongyan", window=50, tps=400
            )
            before = await _balance(platform, live)
            smsids = await _accept(platform, live, N)

            workers.append(_start(["worker", "dispatch"], env, tmp_path, "worker.log"))

            async def a_third_sent() -> bool:
                s = await stats()
                return bool(s and s["messages"] >= N // 3)

            await _until(a_third_sent, "a third of the burst at the simulator", 60, workers[0], sim)
            workers[0].send_signal(signal.SIGKILL)
            workers[0].wait(10)

            at_kill = await _rows(platform)
            in_flight = {s for s, (_, state, mark) in at_kill.items() if state == "queued" and mark is not None}
            leased_unsent = {s for s, (_, state, mark) in at_kill.items() if state == "queued" and mark is None}
            kill_states = Counter(state for _, state, _ in at_kill.values())

            workers.append(_start(["worker", "dispatch"], env, tmp_path, "worker.log"))

            async def all_final() -> dict[str, tuple] | None:
                rows = await _rows(platform)
                return rows if all(state in FINAL for _, state, _ in rows.values()) else None

            final = await _until(all_final, "every message final after the restart", 120, workers[1], sim)
            _end(workers[1])
            full = await stats(full=True)
            assert full is not None
    finally:
        for w in workers:
            _end(w)
        _end(sim)

    sent = Counter(full["messages_by_destination"])
    mobile_of = {s: mobile for s, (mobile, _, _) in final.items()}
    async with platform.engines.read.connect() as conn:
        event_rows = list(await conn.execute(select(message_events)))
        parts = Counter(r.smsid for r in await conn.execute(select(carrier_ids.c.smsid)))
        refunds = Counter(r.smsid for r in await conn.execute(select(ledger.c.smsid).where(ledger.c.kind == "refund")))
        # distinct ids: an SMSC resends a DLR that the killed worker never acknowledged, so one id may come twice
        kept = (
            await conn.execute(
                select(func.count()).select_from(
                    select(pending_receipts.c.channel, pending_receipts.c.carrier_msg_id).distinct().subquery()
                )
            )
        ).scalar_one()
    events = Counter(
        (r.smsid, r.from_state, r.to_state, r.detail if r.from_state == r.to_state else None) for r in event_rows
    )
    flagged = {r.smsid for r in event_rows if r.from_state == r.to_state == "queued" and r.detail == INTERRUPTED}
    reconciled = {r.smsid for r in event_rows if r.to_state == "submitted" and r.detail == RECONCILED}
    report = (
        f"at the kill: {dict(kill_states)}; in flight {len(in_flight)} (recorded from receipts {len(reconciled)}, "
        f"sent after the wait {len(flagged)}), leased but unsent {len(leased_unsent)}; "
        f"simulator messages {full['messages']}"
    )
    print(report)
    # nothing lost: every accepted message reached a final state
    assert len(final) == N and set(final) == set(smsids), report
    # nothing twice: every message reached the carrier exactly once
    assert all(sent[mobile_of[s]] == 1 for s in smsids), (report, [s for s in smsids if sent[mobile_of[s]] != 1][:5])
    assert full["messages"] == N, report
    assert kill_states["submitted"] + sum(kill_states[s] for s in FINAL) > 0, report  # the kill was mid-burst
    assert kill_states["queued"] + kill_states["accepted"] > 0, report
    # the in-flight ones were settled one way or the other, the others were never looked at as interrupted
    assert reconciled | flagged == in_flight and not reconciled & flagged, report
    assert reconciled, report  # the simulator had some of them when the worker died (~40 awaiting their resp)
    # one transition of each kind per message, one carrier id (the submit that counted), one refund per failure
    for s in smsids:
        state = final[s][1]
        assert events[(s, "accepted", "queued", None)] == 1
        assert events[(s, "queued", "submitted", None)] == 1
        assert events[(s, "submitted", state, None)] == 1
        assert parts[s] == 1
        assert refunds[s] == (0 if state == "delivered" else 1)
    # every receipt found its message: none left unknown
    assert kept == 0, report
    failed = sum(1 for _, state, _ in final.values() if state != "delivered")
    assert await _balance(platform, live) == before - N + failed


async def _balance(platform, creds) -> int:
    async with platform.engines.read.connect() as conn:
        row = await get_account(conn, creds.account)
        assert row.balance == await ledger_sum(conn, row.id)
        return row.balance
