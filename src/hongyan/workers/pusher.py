"""The pusher: deliver outbox rows to customers' URLs, at least once, with backoff and a dead letter.

Form POST (UTF-8) as the ihuyi pushes are; accepted only on a 2xx whose body is ``success``. Connections
are pooled per host by httpx, and each host has its own concurrency limit, so one slow customer cannot
stall the others. Redirects are not followed. Retries back off exponentially with jitter (default 1 min,
2 min, 4 min … for 24 h), then the row is dead-lettered; ``hongyan push replay`` brings it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import random
import socket
from collections import defaultdict
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from hongyan.domain.pushes import accepted
from hongyan.metrics import PUSHES
from hongyan.store import outbox
from hongyan.store.clock import now_ms

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PushPolicy:
    base_s: float = 60.0
    window_s: float = 86_400.0
    jitter: float = 0.1
    timeout_s: float = 10.0
    per_host: int = 8
    allow_private: bool = True  # production mode turns this off (SSRF guard)

    def next_at(self, attempts: int, created_at: int, now: int) -> int | None:
        """When to try again after ``attempts`` failures; None once the retry window is over (dead letter)."""
        delay = self.base_s * 2 ** (attempts - 1) * (1 + random.uniform(-self.jitter, self.jitter))
        at = now + int(delay * 1000)
        return None if at - created_at > self.window_s * 1000 else at


class UnsafeTarget(Exception):
    """A push URL that is not http(s), or points at a private address while those are refused."""


def check_target(url: str, allow_private: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeTarget("push URLs must be http(s)://host/…")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 80, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise UnsafeTarget(f"cannot resolve {parts.hostname}: {exc}") from exc
    for info in infos:
        addr = ipaddress.ip_address(info[4][0])
        if addr.is_private or addr.is_loopback or addr.is_link_local or addr.is_reserved or addr.is_multicast:
            raise UnsafeTarget(f"{parts.hostname} resolves to a private address {addr}")


@dataclass
class PusherStats:
    delivered: int = 0
    failed: int = 0
    dead: int = 0
    attempts_by_ref: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class Pusher:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        skip_locked: bool,
        policy: PushPolicy | None = None,
        batch: int = 200,
        poll_s: float = 0.05,
        lease_ms: int = 60_000,
    ) -> None:
        self._engine = engine
        self._skip_locked = skip_locked
        self.policy = policy or PushPolicy()
        self._batch = batch
        self._poll_s = poll_s
        self._lease_ms = lease_ms
        self.owner = f"{socket.gethostname()}:{os.getpid()}:push:{id(self):x}"
        self._client = httpx.AsyncClient(
            timeout=self.policy.timeout_s,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=512, max_keepalive_connections=128),
            headers={"user-agent": "hongyan-push/1"},
        )
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._delivered: list[int] = []
        self._failed: list[tuple[int, int | None, str]] = []
        self.stats = PusherStats()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="pusher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)
        await self._flush()
        await self._client.aclose()

    async def _run(self) -> None:
        while True:
            try:
                await self._flush()
                pushes = await outbox.lease(
                    self._engine,
                    owner=self.owner,
                    limit=self._batch,
                    lease_ms=self._lease_ms,
                    skip_locked=self._skip_locked,
                )
            except Exception:
                log.exception("push lease failed")
                pushes = []
            for push in pushes:
                task = asyncio.create_task(self._deliver(push))
                self._inflight.add(task)
                task.add_done_callback(self._inflight.discard)
            if not pushes:
                await asyncio.sleep(self._poll_s)
            elif self._inflight:
                await asyncio.wait(self._inflight, timeout=self._poll_s, return_when=asyncio.FIRST_COMPLETED)

    def _host(self, url: str) -> asyncio.Semaphore:
        host = urlsplit(url).netloc
        sem = self._hosts.get(host)
        if sem is None:
            sem = self._hosts[host] = asyncio.Semaphore(self.policy.per_host)
        return sem

    async def _deliver(self, push: outbox.Push) -> None:
        self.stats.attempts_by_ref[push.ref] += 1
        try:
            check_target(push.url, self.policy.allow_private)
            async with self._host(push.url):
                resp = await self._client.post(push.url, data=push.fields)
            if accepted(resp.status_code, resp.content):
                self._delivered.append(push.id)
                PUSHES.labels(push.kind, "delivered").inc()
                return
            error = f"HTTP {resp.status_code}: {resp.content[:100]!r}"
        except UnsafeTarget as exc:
            self._failed.append((push.id, None, str(exc)))  # never retried: dead letter at once
            return
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        PUSHES.labels(push.kind, "failed").inc()
        self._failed.append((push.id, self.policy.next_at(push.attempts, push.created_at, now_ms()), error))

    async def _flush(self) -> None:
        delivered, self._delivered = self._delivered, []
        failed, self._failed = self._failed, []
        if not delivered and not failed:
            return
        try:
            await outbox.record(self._engine, self.owner, delivered, failed)
        except Exception:
            self._delivered[:0], self._failed[:0] = delivered, failed
            raise
        self.stats.delivered += len(delivered)
        self.stats.failed += sum(1 for _, nxt, _ in failed if nxt is not None)
        self.stats.dead += sum(1 for _, nxt, _ in failed if nxt is None)
