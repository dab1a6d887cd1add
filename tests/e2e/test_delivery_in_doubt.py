"""Over real SMPP sockets, through the delivery runtime: the connection to the primary SMSC goes away while
submit_sm are on the wire (submit_sm_resp held back, so tens are). Those messages are *in doubt* — the SMSC may
have them — and are not sent to the backup at once (that is how duplicates happen): their receipts decide
(docs/decisions/0002-submit-crash-window.md).

- The SMSC survives the drop (a network blip): on the next bind it sends the receipts it kept, the in-doubt
  messages are recorded from them, and every message reaches an SMSC exactly once.
- The SMSC dies for good, with its receipts: after ``interrupted_receipt_wait_s`` the in-doubt messages go to the
  backup, flagged as possible duplicates; every other message reaches an SMSC exactly once.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from sqlalchemy import select

from hongyan.services import channels as channel_svc
from hongyan.simulator import Simulator
from hongyan.store.delivery import INTERRUPTED, RECONCILED
from hongyan.store.tables import message_events, messages
from hongyan.workers.runtime import DeliveryRuntime
from tests.support import accept_many

N = 200
FINAL = ("delivered", "undelivered", "expired", "rejected", "failed")


async def _runtime(platform, primary: Simulator, backup: Simulator) -> DeliveryRuntime:
    for name, sim, priority in (("sim1", primary, "primary"), ("sim2", backup, "backup")):
        await channel_svc.add_channel(
            platform,
            name,
            f"127.0.0.1:{sim.port}",
            password="secret",
            system_id="hongyan",
            window=50,
            tps=5000,
            priority=priority,
        )
    runtime = DeliveryRuntime(platform, reload_s=0.2)
    await runtime.start()
    deadline = time.monotonic() + 10
    while len(runtime.router.routes) < 2 or not all(r.channel.available for r in runtime.router.routes):
        assert time.monotonic() < deadline, "channels did not bind"
        await asyncio.sleep(0.02)
    return runtime


async def _until(check, what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def _rows(platform) -> dict[str, tuple[str, str | None]]:
    async with platform.engines.read.connect() as conn:
        rows = await conn.execute(select(messages.c.smsid, messages.c.state, messages.c.channel))
        return {r.smsid: (r.state, r.channel) for r in rows}


async def _settled(platform) -> tuple[set[str], set[str]]:
    """(recorded from their receipts, sent again flagged as possible duplicates)."""
    async with platform.engines.read.connect() as conn:
        rows = list(
            await conn.execute(
                select(message_events.c.smsid, message_events.c.to_state).where(
                    message_events.c.detail.in_([INTERRUPTED, RECONCILED])
                )
            )
        )
    return {r.smsid for r in rows if r.to_state == "submitted"}, {r.smsid for r in rows if r.to_state == "queued"}


async def _start_sims(**primary_options) -> tuple[Simulator, Simulator]:
    primary = Simulator(system_id="hongyan", password="secret", window=100, seed=1, **primary_options)
    backup = Simulator(system_id="hongyan", password="secret", window=100, dlr_delay_s=0.01, seed=2)
    await primary.start()
    await backup.start()
    return primary, backup


async def _burst(platform, live, runtime: DeliveryRuntime, primary: Simulator) -> list[str]:
    """Accept N messages and return once tens of their submits are on the wire at the primary (unanswered)."""
    smsids = await accept_many(platform, live, N)
    runtime.dispatcher.wake()

    async def on_the_wire() -> bool:
        return primary.stats.messages >= 20 and primary.inflight >= 10

    await _until(on_the_wire, "submits on the wire at the primary")
    return smsids


async def test_a_dropped_connection_settles_its_in_flight_submits_from_their_receipts(platform, live) -> None:
    platform.settings.interrupted_receipt_wait_s = 30.0  # far longer than the test needs: receipts decide
    # receipts come 0.5 s after a submit, its answer 0.3 s: those on the wire at the drop come after it
    primary, backup = await _start_sims(resp_delay_s=0.3, dlr_delay_s=0.5)
    runtime = await _runtime(platform, primary, backup)
    try:
        smsids = await _burst(platform, live, runtime, primary)
        in_flight_at_drop = primary.inflight
        assert primary.drop_connections() >= 1  # the SMSC stays up: the client binds again

        async def all_final() -> dict | None:
            rows = await _rows(platform)
            return rows if all(state in FINAL for state, _ in rows.values()) else None

        final = await _until(all_final, "every message final")
    finally:
        await runtime.stop()
        await primary.stop()
        await backup.stop()
    reconciled, flagged = await _settled(platform)
    sent = primary.messages_by_text + backup.messages_by_text
    report = f"in flight at the drop {in_flight_at_drop}, recorded from receipts {len(reconciled)}"
    assert set(final) == set(smsids)
    # every message reached an SMSC once: the in-doubt ones were not sent to the backup
    assert sum(sent.values()) == N and max(sent.values()) == 1, report
    assert reconciled and not flagged, report
    assert all(final[s][1] == "sim1" for s in reconciled), report
    assert len(reconciled) >= in_flight_at_drop - 1, report  # one may have been answered as the socket closed


async def test_a_dead_primary_in_doubt_submits_go_to_the_backup_after_the_wait(platform, live) -> None:
    platform.settings.interrupted_receipt_wait_s = 1.0
    # the primary's receipts come 2 s after a submit, its answers 0.3 s: those on the wire when it dies never come
    primary, backup = await _start_sims(resp_delay_s=0.3, dlr_delay_s=2.0)
    runtime = await _runtime(platform, primary, backup)
    try:
        smsids = await _burst(platform, live, runtime, primary)
        await primary.stop()  # the primary SMSC dies, with the submits it had not answered and their receipts
        at_primary = Counter(primary.messages_by_text)

        async def settled() -> dict | None:
            rows = await _rows(platform)
            done = all(state in FINAL or (state, channel) == ("submitted", "sim1") for state, channel in rows.values())
            return rows if done else None

        final = await _until(settled, "every message final or waiting for the dead primary's receipt")
    finally:
        await runtime.stop()
        await backup.stop()
    reconciled, flagged = await _settled(platform)
    at_backup = backup.messages_by_text
    twice = {text for text in at_primary if at_backup[text]}
    assert set(final) == set(smsids)
    # nothing lost: each message reached an SMSC; only the in-doubt ones (the dead primary had them unanswered)
    # were sent again, each to the backup, flagged
    assert sum(1 for t in at_primary + at_backup if (at_primary + at_backup)[t]) == N
    assert flagged and not reconciled
    assert len(twice) == len(flagged), (len(twice), len(flagged))
    assert all(final[s] in (("delivered", "sim2"), ("undelivered", "sim2")) for s in flagged)
    assert max(at_backup.values()) == 1 and max(at_primary.values()) == 1
    # what the primary answered before it died stays with it, waiting for its receipt
    assert all(channel in ("sim1", "sim2") for _, channel in final.values())
