"""The pusher: deliver outbox rows to customers' URLs, at least once, with backoff and a dead letter.

Form POST (UTF-8) as the ihuyi pushes are; accepted only on a 2xx whose body is ``success``. Signed JSON
webhooks (Standard Webhooks, ``domain.webhooks``) are signed at each attempt with the account's current
secrets and accepted on any 2xx. The HTTP client is our own (``workers.push_http``: keep-alive pools, one total
timeout per request, no redirects, cookies or proxies), chosen for its CPU per push. Leased rows are queued per
destination host; each host has its own worker tasks (at most ``per_host``, the size of its connection pool) and
a bounded backlog (rows past it go back to the outbox untried), so one slow customer cannot stall the others. A
loop runs one database transaction per cycle (``outbox.cycle``): the outcomes of the pushes finished since the
last cycle and the next lease, with the renewal of the leases still held. Stopping finishes the pushes being
sent and hands the rows not yet sent back, due at once. A killed worker's rows return after ``lease_ms``, so a
push is delivered at least once: the receiver may see again the few that were sent but not yet recorded when the
worker died (the in-flight window). Redirects are never followed. Retries back off exponentially with jitter
(default 1 min, 2 min, 4 min … for 24 h), then the row is dead-lettered; ``hongyan push replay`` brings it back.
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
from collections import defaultdict, deque
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from sqlalchemy.ext.asyncio import AsyncEngine

from hongyan.domain import webhooks as wh
from hongyan.domain.pushes import accepted
from hongyan.keys import KeyBox
from hongyan.metrics import PUSHES
from hongyan.store import outbox, webhooks
from hongyan.store.clock import now_ms
from hongyan.store.txgroup import TxGroup, txgroup_for
from hongyan.workers.push_http import PushClient, PushHTTPError

log = logging.getLogger(__name__)
MIN_CYCLE_S = 0.02  # the shortest lease/record cycle (adds at most this to a push's latency)
TARGET_CHECK_S = 10.0  # how long check_target's answer for one host is kept
FORM = {"content-type": "application/x-www-form-urlencoded"}  # a form push's body is UTF-8 (``urlencode``)


@dataclass(frozen=True)
class PushPolicy:
    base_s: float = 60.0
    window_s: float = 86_400.0
    jitter: float = 0.1
    timeout_s: float = 10.0
    per_host: int = 32  # concurrent pushes (connections) to one host
    host_backlog: int = 512  # rows one host may hold leased (sending + waiting); more go back to the outbox
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


def host_key(url: str) -> str:
    """The per-host key (``host[:port]``) limits and backlogs are kept under; also ``outbox``'s skip key."""
    return urlsplit(url).netloc


class _Host:
    """One destination: leased rows waiting their turn, and the worker tasks (at most ``per_host``) sending them."""

    __slots__ = ("queue", "sending", "workers")

    def __init__(self) -> None:
        self.queue: deque[tuple[outbox.Push, list[str]]] = deque()
        self.sending = 0
        self.workers = 0

    @property
    def held(self) -> int:
        return len(self.queue) + self.sending


class Pusher:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        skip_locked: bool,
        policy: PushPolicy | None = None,
        batch: int = 500,
        max_inflight: int = 4_000,
        poll_s: float = 0.05,
        lease_ms: int = 60_000,
        keybox: KeyBox | None = None,
        group: TxGroup | None = None,
    ) -> None:
        # the cycles' transactions: the delivery side's group when given (on SQLite, when this process delivers
        # too: one transaction for both, statements without a round trip each), else the pusher's own
        self._own_group = group is None
        self._writer: TxGroup = group or txgroup_for(engine, name="push-tx")
        self._skip_locked = skip_locked
        self.policy = policy or PushPolicy()
        self._backlog = max(self.policy.host_backlog, self.policy.per_host)
        self._batch = batch
        self._max_inflight = max_inflight
        self._poll_s = poll_s
        self._lease_ms = lease_ms
        self._keybox = keybox  # decrypts webhook secrets; without it webhook rows fail
        self.owner = f"{socket.gethostname()}:{os.getpid()}:push:{id(self):x}"
        self._client: PushClient | None = None  # made on first use, inside the running loop
        self._hosts: dict[str, _Host] = {}
        self._held: set[int] = set()  # outbox ids leased and not yet finished (queued or being sent)
        self._workers: set[asyncio.Task[None]] = set()
        self._new_host_seen = True  # the last lease brought rows for a host not in _hosts
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._progress = asyncio.Event()  # set when a push finishes: the loop records it in its next cycle
        self._delivered: list[int] = []
        self._failed: list[tuple[int, int | None, str]] = []
        self._give_back: list[int] = []  # leased rows a full host backlog could not take
        self._targets: dict[str, tuple[float, str | None]] = {}  # scheme://netloc → (checked at, refusal)
        self._plain: dict[str, str] = {}  # encrypted webhook secret → secret
        self.stats = PusherStats()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="pusher")

    def wake(self) -> None:
        """New rows are due in the outbox (committed by this process): the next cycle need not wait for the poll."""
        self._progress.set()

    async def stop(self) -> None:
        """Finish the pushes being sent, hand the leased rows not yet sent back to the outbox (due at once, for
        the next pusher) and record every outcome, in one last cycle."""
        self._stopping = True
        self._progress.set()
        if self._task is not None:
            await self._task
            self._task = None
        if self._workers:
            await asyncio.gather(*self._workers, return_exceptions=True)
        unsent = [p.id for host in self._hosts.values() for p, _ in host.queue]
        self._hosts.clear()
        self._held.clear()
        self._give_back += unsent
        try:
            await self._cycle(limit=0, release_delay_ms=0)
        except Exception:
            log.exception("push outcomes not recorded at stop")  # the rows come back when their leases end
        if self._own_group:
            await self._writer.close()
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        renew_every = self._lease_ms / 3000
        renewed = loop.time()
        while not self._stopping:
            started = loop.time()
            self._progress.clear()
            renew = started - renewed > renew_every
            try:
                leased = await self._cycle(limit=self._lease_room(), renew=renew)
                if renew:
                    renewed = started
                self._admit(leased.pushes, self._secrets(leased.hooks))
            except Exception:
                log.exception("push cycle failed")  # outcomes are kept for the next one
            if not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._progress.wait(), self._poll_s)
            # At most one transaction per MIN_CYCLE_S: waking on every finished push made hundreds of tiny
            # transactions a second, which on SQLite queue behind the one writer.
            rest = MIN_CYCLE_S - (loop.time() - started)
            if rest > 0 and not self._stopping:
                await asyncio.sleep(rest)

    async def _cycle(self, *, limit: int, renew: bool = False, release_delay_ms: int | None = None) -> outbox.Leased:
        """Record what finished since the last cycle and lease up to ``limit`` rows, in one transaction."""
        delivered, self._delivered = self._delivered, []
        failed, self._failed = self._failed, []
        back, self._give_back = self._give_back, []
        if not (delivered or failed or back or renew or limit > 0):
            return outbox.Leased([], {})
        delay = max(100, int(self._poll_s * 20_000)) if release_delay_ms is None else release_delay_ms
        outcomes = outbox.Outcomes(delivered, failed, back, delay, list(self._held) if renew else ())
        try:
            leased = await outbox.cycle(
                self._writer,
                outcomes,
                owner=self.owner,
                limit=limit,
                lease_ms=self._lease_ms,
                skip_locked=self._skip_locked,
                skip_hosts=[k for k, h in self._hosts.items() if h.held >= self._backlog],
            )
        except BaseException:  # also a cancel mid-commit: recorded by the next cycle (recording twice is a no-op)
            self._delivered[:0], self._failed[:0], self._give_back[:0] = delivered, failed, back
            raise
        self.stats.delivered += len(delivered)
        self.stats.failed += sum(1 for _, nxt, _ in failed if nxt is not None)
        self.stats.dead += sum(1 for _, nxt, _ in failed if nxt is None)
        return leased

    def _lease_room(self) -> int:
        """How many rows to lease now. While the last lease brought no new host, only what the known hosts'
        backlogs can take (at least 1, to notice a new host): leasing rows for a host that is nearly full only
        to hand them back cost write work and re-leased each waiting row several times."""
        room = min(self._batch, self._max_inflight - len(self._held))
        if self._hosts and not self._new_host_seen:
            free = sum(max(0, self._backlog - h.held) for h in self._hosts.values())
            room = min(room, max(free, 1))
        return room

    def _admit(self, pushes: list[outbox.Push], secrets: dict[int, list[str]]) -> None:
        """Queue each row on its host, up to the host's backlog (the rest goes back to the outbox untried), and
        start the host's workers, at most ``per_host``."""
        self._new_host_seen = False
        touched: dict[str, _Host] = {}
        for push in pushes:
            key = host_key(push.url)
            host = self._hosts.get(key)
            if host is None:
                host = self._hosts[key] = _Host()
                self._new_host_seen = True
            if host.held >= self._backlog:
                self._give_back.append(push.id)
                continue
            host.queue.append((push, secrets.get(push.account_id, [])))
            self._held.add(push.id)
            touched[key] = host
        for key, host in touched.items():
            for _ in range(min(self.policy.per_host - host.workers, len(host.queue))):
                host.workers += 1
                task = asyncio.create_task(self._work(key, host))
                self._workers.add(task)
                task.add_done_callback(self._workers.discard)

    async def _work(self, key: str, host: _Host) -> None:
        """One of a host's workers: send its queued rows one after the other until none is left."""
        try:
            while host.queue and not self._stopping:
                push, secrets = host.queue.popleft()
                host.sending += 1
                try:
                    await self._deliver(push, secrets)
                except Exception as exc:  # a bug, not the receiver: retried later like a failed attempt
                    log.exception("push %s failed", push.id)
                    self._finished(push, self.policy.next_at(push.attempts, push.created_at, now_ms()), repr(exc))
                finally:
                    host.sending -= 1
        finally:
            host.workers -= 1
            if not host.workers and not host.held and self._hosts.get(key) is host:
                del self._hosts[key]

    def _secrets(self, hooks: dict[int, webhooks.Webhook]) -> dict[int, list[str]]:
        """The secrets that sign each account's webhooks now: the current one, and the previous during a rotation."""
        if not hooks or self._keybox is None:
            return {}
        now = now_ms()
        out: dict[int, list[str]] = {}
        for account_id, hook in hooks.items():
            out[account_id] = [self._decrypt(hook.secret_enc)]
            if hook.previous_secret_enc and (hook.previous_until or 0) > now:
                out[account_id].append(self._decrypt(hook.previous_secret_enc))
        return out

    def _decrypt(self, secret_enc: str) -> str:
        plain = self._plain.get(secret_enc)
        if plain is None:
            if len(self._plain) >= 4096:
                self._plain.clear()
            assert self._keybox is not None
            plain = self._plain[secret_enc] = self._keybox.decrypt(secret_enc)
        return plain

    def _check(self, url: str) -> None:
        """``check_target``, its answer kept TARGET_CHECK_S per scheme and host (it may resolve the name)."""
        parts = urlsplit(url)
        target = f"{parts.scheme}://{parts.netloc}"
        now = time.monotonic()
        seen = self._targets.get(target)
        if seen is None or now - seen[0] > TARGET_CHECK_S:
            try:
                check_target(url, self.policy.allow_private)
                refusal = None
            except UnsafeTarget as exc:
                refusal = str(exc)
            if len(self._targets) >= 4096:
                self._targets.clear()
            seen = self._targets[target] = (now, refusal)
        if seen[1] is not None:
            raise UnsafeTarget(seen[1])

    def _http(self) -> PushClient:
        """The client of every push (``workers.push_http``: its CPU per push decides how many receipts a second
        one worker can push). Its pools keep at most ``per_host`` connections per host alive (the host's
        workers); the total timeout per request is the policy's. No cookies, no redirects, no proxies."""
        if self._client is None:
            self._client = PushClient(per_host=self.policy.per_host, timeout_s=self.policy.timeout_s)
        return self._client

    async def _send(self, push: outbox.Push, secrets: list[str]) -> tuple[int, bytes]:
        """POST one push (never following a redirect); the status and at most MAX_ANSWER bytes of the answer."""
        if push.webhook_id is None:
            data, headers = urlencode(push.fields).encode(), FORM
        else:
            body = push.body or ""
            data, headers = body.encode(), wh.headers(secrets, push.webhook_id, int(time.time()), body)
        return await self._http().post(push.url, data, headers)

    async def _deliver(self, push: outbox.Push, secrets: list[str]) -> None:
        self.stats.attempts_by_ref[push.ref] += 1
        try:
            self._check(push.url)
            if push.webhook_id is not None and not secrets:
                raise UnsafeTarget("the account has no webhook secret any more (webhook removed)")
            status, answer = await self._send(push, secrets)
            ok = 200 <= status < 300 if push.webhook_id else accepted(status, answer)
            if ok:
                self._finished(push)
                PUSHES.labels(push.kind, "delivered").inc()
                return
            error = f"HTTP {status}: {answer[:100]!r}"
        except UnsafeTarget as exc:
            self._finished(push, None, str(exc))  # never retried: dead letter at once
            return
        except (PushHTTPError, TimeoutError) as exc:  # PushTimeout is both
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        PUSHES.labels(push.kind, "failed").inc()
        self._finished(push, self.policy.next_at(push.attempts, push.created_at, now_ms()), error)

    def _finished(self, push: outbox.Push, next_at: int | None = 0, error: str | None = None) -> None:
        """An outcome for the next cycle to record: delivered (no error), retry at ``next_at``, or dead (None)."""
        self._held.discard(push.id)
        if error is None:
            self._delivered.append(push.id)
        else:
            self._failed.append((push.id, next_at, error))
        self._progress.set()
