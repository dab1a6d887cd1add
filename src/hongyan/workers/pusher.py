"""The pusher: deliver outbox rows to customers' URLs, at least once, with backoff and a dead letter.

Form POST (UTF-8) as the ihuyi pushes are; accepted only on a 2xx whose body is ``success``. Signed JSON
webhooks (Standard Webhooks, ``domain.webhooks``) are signed at each attempt with the account's current
secrets and accepted on any 2xx. Connections are pooled per host by aiohttp, and each host has its own
concurrency limit and a bounded backlog (rows past it go back to the outbox untried), so one slow customer
cannot stall the others. Leases on rows still in flight are renewed; a killed worker's rows return after
``lease_ms``, so a push is delivered at least once: the receiver may see again the few that were sent but not
yet recorded when the worker died (the in-flight window). Redirects are never followed. Retries back off
exponentially with jitter (default 1 min, 2 min, 4 min … for 24 h), then the row is dead-lettered;
``hongyan push replay`` brings it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import random
import socket
import time
from collections import defaultdict
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine

from hongyan.domain import webhooks as wh
from hongyan.domain.pushes import accepted
from hongyan.keys import KeyBox
from hongyan.metrics import PUSHES
from hongyan.store import outbox, webhooks
from hongyan.store.clock import now_ms

log = logging.getLogger(__name__)
MIN_CYCLE_S = 0.02  # the shortest lease/record cycle (adds at most this to a push's latency)
MAX_ANSWER = 64 * 1024  # bytes of a receiver's answer that are read (``success`` is 7)


@dataclass(frozen=True)
class PushPolicy:
    base_s: float = 60.0
    window_s: float = 86_400.0
    jitter: float = 0.1
    timeout_s: float = 10.0
    per_host: int = 8
    host_backlog: int = 64  # rows one host may hold leased (sending + waiting); more go back to the outbox
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
        max_inflight: int = 2_000,
        poll_s: float = 0.05,
        lease_ms: int = 60_000,
        keybox: KeyBox | None = None,
    ) -> None:
        self._engine = engine
        self._skip_locked = skip_locked
        self.policy = policy or PushPolicy()
        self._batch = batch
        self._max_inflight = max_inflight
        self._poll_s = poll_s
        self._lease_ms = lease_ms
        self._keybox = keybox  # decrypts webhook secrets; without it webhook rows fail
        self.owner = f"{socket.gethostname()}:{os.getpid()}:push:{id(self):x}"
        self._client: aiohttp.ClientSession | None = None  # made on first use, inside the running loop
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._backlog: dict[str, int] = defaultdict(int)
        self._new_host_seen = True  # the last lease brought rows for a host not in _backlog
        self._task: asyncio.Task[None] | None = None
        self._inflight: dict[asyncio.Task[None], int] = {}  # task → outbox id
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
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def _run(self) -> None:
        renew_every = self._lease_ms / 3000
        renewed = asyncio.get_running_loop().time()
        while True:
            cycle = asyncio.get_running_loop().time()
            pushes: list[outbox.Push] = []
            try:
                await self._flush()
                if asyncio.get_running_loop().time() - renewed > renew_every:
                    await outbox.renew(self._engine, self.owner, list(self._inflight.values()), self._lease_ms)
                    renewed = asyncio.get_running_loop().time()
                room = self._lease_room()
                if room > 0:
                    pushes = await outbox.lease(
                        self._engine,
                        owner=self.owner,
                        limit=room,
                        lease_ms=self._lease_ms,
                        skip_locked=self._skip_locked,
                        skip_hosts=[h for h, n in self._backlog.items() if n >= self.policy.host_backlog],
                    )
                    pushes = await self._admit(pushes)
                secrets = await self._secrets({p.account_id for p in pushes if p.webhook_id})
            except Exception:
                log.exception("push lease failed")  # rows leased meanwhile come back when their lease ends
                pushes, secrets = [], {}
            self._new_host_seen = any(urlsplit(p.url).netloc not in self._backlog for p in pushes)
            for push in pushes:
                host = urlsplit(push.url).netloc
                self._backlog[host] += 1
                task = asyncio.create_task(self._deliver(push, secrets.get(push.account_id, [])))
                self._inflight[task] = push.id
                task.add_done_callback(lambda t, h=host: self._done(t, h))
            if not pushes:
                await asyncio.sleep(self._poll_s)
            elif self._inflight:
                await asyncio.wait(self._inflight, timeout=self._poll_s, return_when=asyncio.FIRST_COMPLETED)
            # At most one record + one lease transaction per MIN_CYCLE_S: waking on every finished push made
            # hundreds of tiny transactions a second, which on SQLite queue behind the one writer.
            rest = MIN_CYCLE_S - (asyncio.get_running_loop().time() - cycle)
            if rest > 0:
                await asyncio.sleep(rest)

    def _lease_room(self) -> int:
        """How many rows to lease now. While the last lease brought no new host, only what the known hosts'
        backlogs can take (at least 1, to notice a new host): leasing rows for a host that is nearly full only
        to hand them back cost two write transactions per cycle and re-leased each waiting row several times."""
        room = min(self._batch, self._max_inflight - len(self._inflight))
        if self._backlog and not self._new_host_seen:
            free = sum(max(0, self.policy.host_backlog - n) for n in self._backlog.values())
            room = min(room, max(free, 1))
        return room

    def _done(self, task: asyncio.Task[None], host: str) -> None:
        self._inflight.pop(task, None)
        self._backlog[host] -= 1
        if not self._backlog[host]:
            del self._backlog[host]

    async def _admit(self, pushes: list[outbox.Push]) -> list[outbox.Push]:
        """Keep what each host's backlog has room for; hand the rest back to the outbox, untried."""
        keep, back, room = [], [], {}
        for p in pushes:
            host = urlsplit(p.url).netloc
            left = room.setdefault(host, self.policy.host_backlog - self._backlog.get(host, 0))
            if left > 0:
                room[host] = left - 1
                keep.append(p)
            else:
                back.append(p.id)
        if back:
            await outbox.release(self._engine, self.owner, back, delay_ms=max(100, int(self._poll_s * 20_000)))
        return keep

    async def _secrets(self, account_ids: set[int]) -> dict[int, list[str]]:
        """The secrets that sign each account's webhooks now: the current one, and the previous during a rotation."""
        if not account_ids or self._keybox is None:
            return {}
        async with self._engine.connect() as conn:
            hooks = await webhooks.for_accounts(conn, account_ids)
        now = now_ms()
        out: dict[int, list[str]] = {}
        for account_id, hook in hooks.items():
            out[account_id] = [self._keybox.decrypt(hook.secret_enc)]
            if hook.previous_secret_enc and (hook.previous_until or 0) > now:
                out[account_id].append(self._keybox.decrypt(hook.previous_secret_enc))
        return out

    def _host(self, url: str) -> asyncio.Semaphore:
        host = urlsplit(url).netloc
        sem = self._hosts.get(host)
        if sem is None:
            sem = self._hosts[host] = asyncio.Semaphore(self.policy.per_host)
        return sem

    def _session(self) -> aiohttp.ClientSession:
        """aiohttp rather than httpx: ~0.12 ms of CPU per push instead of ~0.7 ms (against a local receiver), and
        that decides how many receipts a second one worker can push. No cookies are kept between customers."""
        if self._client is None:
            self._client = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=512, limit_per_host=0, keepalive_timeout=30),
                timeout=aiohttp.ClientTimeout(total=self.policy.timeout_s),
                headers={"user-agent": "hongyan-push/1"},
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._client

    async def _send(self, push: outbox.Push, secrets: list[str]) -> tuple[int, bytes]:
        """POST one push (never following a redirect); the status and at most MAX_ANSWER bytes of the answer."""
        if push.webhook_id is None:
            kw: dict = {"data": push.fields}  # application/x-www-form-urlencoded, UTF-8
        else:
            body = push.body or ""
            headers = wh.headers(secrets, push.webhook_id, int(time.time()), body)
            kw = {"data": body.encode("utf-8"), "headers": headers}
        async with self._session().post(push.url, allow_redirects=False, **kw) as resp:
            answer = bytearray()
            async for chunk in resp.content.iter_chunked(8192):
                answer += chunk
                if len(answer) >= MAX_ANSWER:
                    break
            return resp.status, bytes(answer[:MAX_ANSWER])

    async def _deliver(self, push: outbox.Push, secrets: list[str]) -> None:
        self.stats.attempts_by_ref[push.ref] += 1
        try:
            check_target(push.url, self.policy.allow_private)
            if push.webhook_id is not None and not secrets:
                raise UnsafeTarget("the account has no webhook secret any more (webhook removed)")
            async with self._host(push.url):
                status, answer = await self._send(push, secrets)
            ok = 200 <= status < 300 if push.webhook_id else accepted(status, answer)
            if ok:
                self._delivered.append(push.id)
                PUSHES.labels(push.kind, "delivered").inc()
                return
            error = f"HTTP {status}: {answer[:100]!r}"
        except UnsafeTarget as exc:
            self._failed.append((push.id, None, str(exc)))  # never retried: dead letter at once
            return
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        PUSHES.labels(push.kind, "failed").inc()
        self._failed.append((push.id, self.policy.next_at(push.attempts, push.created_at, now_ms()), error))

    async def _flush(self) -> None:
        delivered, self._delivered = self._delivered, []
        failed, self._failed = self._failed, []
        if not delivered and not failed:
            return
        try:
            await outbox.record(self._engine, self.owner, delivered, failed)
        except BaseException:  # also a cancel (stop) mid-commit: the outcomes are recorded by the next flush
            self._delivered[:0], self._failed[:0] = delivered, failed
            raise
        self.stats.delivered += len(delivered)
        self.stats.failed += sum(1 for _, nxt, _ in failed if nxt is not None)
        self.stats.dead += sum(1 for _, nxt, _ in failed if nxt is None)
