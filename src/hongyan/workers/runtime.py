"""Running delivery in a process: build channels from the database, keep them in step with the channel
table (reload without restart), and run the dispatcher and the receipt intake beside them, writing through one
shared transaction group (``store.txgroup``: what both have ready commits together). Each reload also
refreshes the dispatcher's account → channel group map (one small query: only accounts assigned a group). Every
``HONGYAN_CHANNEL_HEARTBEAT_S`` the channels' state goes to ``channel_status`` (one upsert), for the processes
that do not run them (``/readyz``, the console)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable

from hongyan.channels.base import Channel, ChannelStatus
from hongyan.metrics import CHANNEL_INFLIGHT, CHANNEL_WINDOW, CHANNELS_UP
from hongyan.services.platform import Platform
from hongyan.store import channel_status
from hongyan.store import channels as channel_store
from hongyan.store.channels import ChannelConfig
from hongyan.store.clock import now_ms
from hongyan.store.txgroup import txgroup_for
from hongyan.workers.dispatcher import Dispatcher
from hongyan.workers.receipts import ReceiptIntake, ReceiptSweeper
from hongyan.workers.routing import Route, Router

log = logging.getLogger(__name__)

ChannelFactory = Callable[[ChannelConfig], Channel]


def default_factory(config: ChannelConfig, *, failover_after_s: float | None = 3.0) -> Channel:
    if config.kind == "smpp":
        from hongyan.channels.smpp import SmppChannel

        return SmppChannel(config, failover_after_s=failover_after_s)
    raise ValueError(f"unknown channel kind {config.kind!r}")


class DeliveryRuntime:
    def __init__(self, platform: Platform, *, factory: ChannelFactory | None = None, reload_s: float = 2.0) -> None:
        self.platform = platform
        failover_s = platform.settings.throttle_failover_s
        self._factory = factory or functools.partial(default_factory, failover_after_s=failover_s or None)
        self._reload_s = reload_s
        self.router = Router()
        self.txgroup = txgroup_for(
            platform.engines.write, name="delivery-tx", busy_timeout_ms=platform.settings.sqlite_busy_timeout_ms
        )
        self.intake = ReceiptIntake(platform.engines.write, group=self.txgroup)
        self.dispatcher = Dispatcher(
            platform.engines.write,
            self.router,
            skip_locked=not platform.engines.is_sqlite,
            lease_ms=int(platform.settings.dispatch_lease_s * 1000),
            interrupted_wait_ms=int(platform.settings.interrupted_receipt_wait_s * 1000),
            group=self.txgroup,
        )
        self.sweeper = ReceiptSweeper(
            self.txgroup,
            timeout_s=platform.settings.receipt_timeout_s,
            every_s=platform.settings.receipt_sweep_s,
            skip_locked=not platform.engines.is_sqlite,
        )
        self._channels: dict[str, tuple[ChannelConfig, Channel]] = {}
        self._version: tuple[int, int] | None = None
        self._task: asyncio.Task[None] | None = None
        self._heartbeat_s = platform.settings.channel_heartbeat_s
        self._beat_task: asyncio.Task[None] | None = None

    @property
    def node(self) -> str:
        """This process's name in ``channel_status`` (the dispatcher's lease owner)."""
        return self.dispatcher.owner

    async def start(self) -> None:
        await self.intake.start()
        await self.reload()
        await self.dispatcher.start()
        await self.sweeper.start()
        self._task = asyncio.create_task(self._reload_loop(), name="channel-reload")
        if self._heartbeat_s > 0:
            self._beat_task = asyncio.create_task(self._heartbeat_loop(), name="channel-heartbeat")

    async def stop(self) -> None:
        for task in (self._task, self._beat_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._beat_task = None
        if self._heartbeat_s > 0:
            try:
                await channel_status.forget(self.platform.engines.write, self.node)
            except Exception:  # the rows go stale anyway
                log.exception("clearing the channel heartbeats failed")
        await self.sweeper.stop()
        await self.dispatcher.stop()
        for _, channel in self._channels.values():
            await channel.stop()
        self._channels.clear()
        await self.intake.stop()
        await self.txgroup.close()

    async def _reload_loop(self) -> None:
        while True:
            await asyncio.sleep(self._reload_s)
            try:
                await self.reload()
            except Exception:
                log.exception("channel reload failed")
            self.sample_metrics()

    async def _heartbeat_loop(self) -> None:
        while True:
            try:
                await self.heartbeat()
            except Exception:
                log.exception("channel heartbeat failed")
            await asyncio.sleep(self._heartbeat_s)

    def statuses(self) -> dict[str, ChannelStatus]:
        """The state of each channel this process runs."""
        return {name: status_of(channel, config) for name, (config, channel) in self._channels.items()}

    async def heartbeat(self) -> None:
        """Write every channel's state to ``channel_status`` (one upsert)."""
        beats = [
            channel_status.Heartbeat(name, st.bound, st.inflight, st.window, st.tps, st.throttled)
            for name, st in self.statuses().items()
        ]
        await channel_status.beat(self.platform.engines.write, self.node, beats, now_ms())

    def sample_metrics(self) -> None:
        """Channel gauges: how many are available, and per channel the window and the submits in flight."""
        CHANNELS_UP.set(sum(1 for r in self.router.routes if r.channel.available))
        for name, st in self.statuses().items():
            CHANNEL_WINDOW.labels(name).set(st.window)
            CHANNEL_INFLIGHT.labels(name).set(st.inflight)

    async def reload(self) -> None:
        """Refresh the account groups; start new and changed channels, stop removed and disabled ones, rebuild the
        routes."""
        async with self.platform.engines.read.connect() as conn:
            self.dispatcher.account_groups = await channel_store.account_groups(conn)
            version = await channel_store.version(conn)
            if version == self._version:
                return
            configs = {c.name: c for c in await channel_store.load_channels(conn, self.platform.keybox.decrypt)}
        for name in list(self._channels):
            old_config, channel = self._channels[name]
            new = configs.get(name)
            if new is None or not new.enabled or new != old_config:
                await channel.stop()
                del self._channels[name]
                CHANNEL_WINDOW.labels(name).set(0)
                CHANNEL_INFLIGHT.labels(name).set(0)
                log.info("channel stopped", extra={"channel": name})
        for name, config in configs.items():
            if config.enabled and name not in self._channels:
                channel = self._factory(config)
                await channel.start(self.intake.on_receipt, self.intake.on_reply, on_unparsed=self.intake.on_unparsed)
                self._channels[name] = (config, channel)
                log.info("channel started", extra={"channel": name})
        self.router.routes = [
            Route(ch, cfg.carriers, cfg.priority, cfg.group_name, cfg.weight) for cfg, ch in self._channels.values()
        ]
        self._version = version


def status_of(channel: Channel, config: ChannelConfig) -> ChannelStatus:
    """``channel.status()``; a channel without it (a test double) reports its availability and configured window."""
    status = getattr(channel, "status", None)
    if status is not None:
        return status()
    return ChannelStatus(bound=bool(channel.available), window=config.window)
