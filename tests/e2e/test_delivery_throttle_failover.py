"""Over real SMPP sockets, through the delivery runtime: a primary SMSC that throttles hard beside a backup that
does not. Messages held back on the primary past the failover bound move to the backup, new ones skip the primary
while it is backed up, every message is delivered exactly once, and the primary takes messages again once it has
recovered."""

from __future__ import annotations

import asyncio
import functools
import time
from collections import Counter

from sqlalchemy import func, select

from hongyan.services import channels as channel_svc
from hongyan.simulator import Simulator
from hongyan.store.tables import messages
from hongyan.workers.runtime import DeliveryRuntime, default_factory
from tests.support import accept_many

BOUND_S = 0.4


async def _until_delivered(platform, n: int, timeout: float = 60) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while True:
        async with platform.engines.read.connect() as conn:
            states = dict(list(await conn.execute(select(messages.c.state, func.count()).group_by(messages.c.state))))
        if states.get("delivered", 0) >= n:
            return states
        assert time.monotonic() < deadline, states
        await asyncio.sleep(0.05)


async def _until(condition, what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.02)


async def test_throttled_primary_spills_over_to_the_backup_and_comes_back(platform, live) -> None:
    primary = Simulator(system_id="hongyan", password="secret", dlr_delay_s=0.01, max_tps=40, seed=3)
    backup = Simulator(system_id="hongyan", password="secret", dlr_delay_s=0.01, seed=4)
    await primary.start()
    await backup.start()
    try:
        for name, sim, priority in (("sim1", primary, "primary"), ("sim2", backup, "backup")):
            await channel_svc.add_channel(
                platform,
                name,
                f"127.0.0.1:{sim.port}",
                password="secret",
                system_id="hongyan",
                window=20,
                tps=5000,
                priority=priority,
            )
        factory = functools.partial(default_factory, failover_after_s=BOUND_S)
        runtime = DeliveryRuntime(platform, reload_s=0.2, factory=factory)
        await runtime.start()
        channels = {r.channel.name: r.channel for r in runtime.router.routes}
        await _until(lambda: len(channels) == 2 and all(c.available for c in channels.values()), "channels bound")
        platform.writer.on_commit.append(runtime.dispatcher.wake)

        await accept_many(platform, live, 400, "1360000")
        states = await _until_delivered(platform, 400)
        stats = runtime.dispatcher.stats
        assert states == {"delivered": 400}
        assert primary.stats.throttled > 0  # the primary pushed back …
        assert primary.stats.messages > 0 and backup.stats.messages > 0  # … kept what it could, the backup the rest
        sent = Counter(primary.messages_by_destination) + Counter(backup.messages_by_destination)
        assert len(sent) == 400 and set(sent.values()) == {1}  # every message once, none twice
        assert stats.failovers > 0 and stats.retried == 0 and stats.failed == 0

        # once nothing has been held back for a while, the primary is available again and takes new messages
        primary_client = channels["sim1"]._client
        await _until(lambda: channels["sim1"].available and primary_client.congested_for() == 0, "recovery")
        on_backup = backup.stats.messages
        await accept_many(platform, live, 1, "1370000")
        await _until_delivered(platform, 401)
        assert backup.stats.messages == on_backup
        assert primary.messages_by_destination["13700000000"] == 1
        await runtime.stop()
    finally:
        await primary.stop()
        await backup.stop()
