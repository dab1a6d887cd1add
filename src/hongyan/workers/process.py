"""The background side of a process: delivery (channels + dispatcher + receipts) and/or the pusher."""

from __future__ import annotations

from hongyan.services.platform import Platform
from hongyan.workers.pusher import Pusher, PushPolicy
from hongyan.workers.runtime import DeliveryRuntime


def push_policy(platform: Platform) -> PushPolicy:
    s = platform.settings
    return PushPolicy(
        base_s=s.push_retry_base_s,
        window_s=s.push_retry_window_s,
        per_host=s.push_per_host,
        allow_private=s.push_allow_private,
    )


class Workers:
    def __init__(self, platform: Platform, *, dispatch: bool = True, push: bool = True) -> None:
        self.platform = platform
        self.delivery = DeliveryRuntime(platform) if dispatch else None
        self.pusher = (
            Pusher(
                platform.engines.write,
                skip_locked=not platform.engines.is_sqlite,
                policy=push_policy(platform),
                lease_ms=int(platform.settings.push_lease_s * 1000),
                keybox=platform.keybox,
                # On SQLite the pusher's cycles join the delivery side's group: one writer, and in the group its
                # statements run without an event-loop round trip each (e2e +20–30 %). PostgreSQL runs them in
                # parallel on their own connections, as before (no gain measured there from sharing).
                group=self.delivery.txgroup if self.delivery is not None and platform.engines.is_sqlite else None,
            )
            if push
            else None
        )

    async def start(self) -> None:
        if self.delivery is not None:
            await self.delivery.start()
            self.platform.writer.on_commit.append(self.delivery.dispatcher.wake)
        if self.pusher is not None:
            await self.pusher.start()
            if self.delivery is not None:
                self.delivery.intake.on_finished.append(self.pusher.wake)
                self.delivery.dispatcher.on_finished.append(self.pusher.wake)

    async def stop(self) -> None:
        if self.pusher is not None:
            await self.pusher.stop()
        if self.delivery is not None:
            await self.delivery.stop()
