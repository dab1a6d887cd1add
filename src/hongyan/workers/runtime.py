"""Running delivery in a process: build channels from the database, keep them in step with the channel
table (reload without restart), and run the dispatcher and the receipt intake beside them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from hongyan.channels.base import Channel
from hongyan.services.platform import Platform
from hongyan.store import channels as channel_store
from hongyan.store.channels import ChannelConfig
from hongyan.workers.dispatcher import Dispatcher
from hongyan.workers.receipts import ReceiptIntake
from hongyan.workers.routing import Route, Router

log = logging.getLogger(__name__)

ChannelFactory = Callable[[ChannelConfig], Channel]


def default_factory(config: ChannelConfig) -> Channel:
    if config.kind == "smpp":
        from hongyan.channels.smpp import SmppChannel

        return SmppChannel(config)
    raise ValueError(f"unknown channel kind {config.kind!r}")


class DeliveryRuntime:
    def __init__(self, platform: Platform, *, factory: ChannelFactory = default_factory, reload_s: float = 2.0) -> None:
        self.platform = platform
        self._factory = factory
        self._reload_s = reload_s
        self.router = Router()
        self.intake = ReceiptIntake(platform.engines.write)
        self.dispatcher = Dispatcher(platform.engines.write, self.router, skip_locked=not platform.engines.is_sqlite)
        self._channels: dict[str, tuple[ChannelConfig, Channel]] = {}
        self._version: tuple[int, int] | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.intake.start()
        await self.reload()
        await self.dispatcher.start()
        self._task = asyncio.create_task(self._reload_loop(), name="channel-reload")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.dispatcher.stop()
        for _, channel in self._channels.values():
            await channel.stop()
        self._channels.clear()
        await self.intake.stop()

    async def _reload_loop(self) -> None:
        while True:
            await asyncio.sleep(self._reload_s)
            try:
                await self.reload()
            except Exception:
                log.exception("channel reload failed")

    async def reload(self) -> None:
        """Start new and changed channels, stop removed and disabled ones, rebuild the routes."""
        async with self.platform.engines.read.connect() as conn:
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
                log.info("channel stopped", extra={"channel": name})
        for name, config in configs.items():
            if config.enabled and name not in self._channels:
                channel = self._factory(config)
                await channel.start(self.intake.on_receipt, self.intake.on_reply)
                self._channels[name] = (config, channel)
                log.info("channel started", extra={"channel": name})
        self.router.routes = [
            Route(ch, cfg.carriers, cfg.priority, cfg.group_name, cfg.weight) for cfg, ch in self._channels.values()
        ]
        self._version = version
