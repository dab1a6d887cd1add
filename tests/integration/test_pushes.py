"""Receipt pushes to real HTTP receivers on 127.0.0.1: exactly once, retries with backoff, dead letter, replay."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict
from urllib.parse import parse_qs

import pytest
import uvicorn
from sqlalchemy import select

from hongyan.services import accounts as svc
from hongyan.services import pushes as push_svc
from hongyan.store.tables import outbox
from hongyan.workers.pusher import Pusher, PushPolicy, UnsafeTarget, check_target
from hongyan.workers.routing import Route
from tests.integration.test_dispatcher import FakeCarrier, _run, _send_many, _stop, _wait_states
from tests.support import free_port

FAST = PushPolicy(base_s=0.05, window_s=2.0, jitter=0.0, timeout_s=2.0)


class Receiver:
    """A real HTTP server: answers from a script (default 'success'), records every push.

    Form pushes are kept by smsid in ``got``; every request's headers and body in ``raw``. ``delay_s`` slows each
    answer; while ``hold`` is set (cleared) requests wait for it, which lets a test count concurrent requests.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.got: dict[str, list[dict[str, str]]] = defaultdict(list)
        self.raw: list[tuple[dict[str, str], bytes]] = []
        self.script: list[tuple[int, bytes] | tuple[int, bytes, list[tuple[bytes, bytes]]]] = []
        self.delay_s = 0.0
        self.hold: threading.Event | None = None
        self.active = self.max_active = 0
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    async def app(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while (msg := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":  # the sender died mid-request: nothing was received
                return
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        self.raw.append((headers, body))
        if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            fields = {k: v[0] for k, v in parse_qs(body.decode("utf-8")).items()}
            self.got[fields.get("smsid", "")].append(fields)
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            while self.hold is not None and not self.hold.is_set():
                await asyncio.sleep(0.005)
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
        finally:
            self.active -= 1
        status, answer, *extra = self.script.pop(0) if self.script else (200, b"success\n")
        out_headers = [(b"content-type", b"text/plain"), *(extra[0] if extra else [])]
        await send({"type": "http.response.start", "status": status, "headers": out_headers})
        await send({"type": "http.response.body", "body": answer})

    def received(self) -> int:
        return len(self.raw)

    def start(self) -> None:
        self.server = uvicorn.Server(
            uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="error", interface="asgi3")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline
            time.sleep(0.01)

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
            self.thread.join(5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/receipt"


async def _wait(predicate, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def _pipeline(platform, live, receiver_url: str, n: int, stat: str = "DELIVRD"):
    await svc.set_fields(platform, live.account, receipt_url=receiver_url)
    routes = [Route(FakeCarrier("p", stat=stat), frozenset({"mobile"}))]
    d, intake = await _run(platform, routes)
    pusher = Pusher(platform.engines.write, skip_locked=not platform.engines.is_sqlite, policy=FAST, poll_s=0.01)
    await pusher.start()
    smsids = await _send_many(platform, live, n)
    return d, intake, routes, pusher, smsids


async def test_exactly_one_push_per_receipt(platform, live, receiver) -> None:
    d, intake, routes, pusher, smsids = await _pipeline(platform, live, receiver.url, 200)
    await _wait(lambda: len(receiver.got) == 200)
    await _wait_states(platform, smsids, {"delivered"})
    await pusher.stop()
    await _stop(d, intake, routes)
    assert set(receiver.got) == set(smsids)
    assert all(len(v) == 1 for v in receiver.got.values())
    one = receiver.got[smsids[0]][0]
    assert list(one) == ["code", "msg", "mobilephone", "smsid", "report_time"]
    assert one["code"] == "2" and one["msg"] == "DELIVRD" and one["mobilephone"].startswith("139")
    assert time.strptime(one["report_time"], "%Y-%m-%d %H:%M:%S")


async def test_receipt_commits_wake_the_pusher_of_their_process(platform, live, receiver) -> None:
    """A pusher polling once a minute still pushes at once: the receipt intake and the dispatcher of its process
    (receipts that came before their submit was recorded) wake it after each commit that finished messages, as
    ``workers.process.Workers`` wires them."""
    await svc.set_fields(platform, live.account, receipt_url=receiver.url)
    routes = [Route(FakeCarrier("p"), frozenset({"mobile"}))]
    d, intake = await _run(platform, routes)
    pusher = Pusher(platform.engines.write, skip_locked=not platform.engines.is_sqlite, policy=FAST, poll_s=60)
    await pusher.start()
    intake.on_finished.append(pusher.wake)
    d.on_finished.append(pusher.wake)
    await asyncio.sleep(0.1)  # the pusher's first cycle found nothing: it now sleeps for its poll
    smsids = await _send_many(platform, live, 20)
    await _wait(lambda: len(receiver.got) == 20)  # 15 s at most, a quarter of the poll
    await pusher.stop()
    await _stop(d, intake, routes)
    assert sorted(receiver.got) == sorted(smsids)


async def test_failures_push_code_0_with_raw_status(platform, live, receiver) -> None:
    d, intake, routes, pusher, _smsids = await _pipeline(platform, live, receiver.url, 3, stat="R:00702")
    await _wait(lambda: len(receiver.got) == 3)
    await pusher.stop()
    await _stop(d, intake, routes)
    assert {v[0]["code"] for v in receiver.got.values()} == {"0"}
    assert {v[0]["msg"] for v in receiver.got.values()} == {"R:00702"}


async def test_retries_with_backoff_then_success(platform, live, receiver) -> None:
    receiver.script = [(500, b"error"), (200, b"fail")]  # a 500, then a 2xx that is not 'success'
    d, intake, routes, pusher, smsids = await _pipeline(platform, live, receiver.url, 1)
    await _wait(lambda: len(receiver.got.get(smsids[0], [])) == 3)
    await asyncio.sleep(0.3)  # nothing more arrives once it was accepted
    await pusher.stop()
    await _stop(d, intake, routes)
    assert len(receiver.got[smsids[0]]) == 3
    async with platform.engines.read.connect() as conn:
        row = (await conn.execute(select(outbox.c.state, outbox.c.attempts))).one()
    assert row.state == "delivered" and row.attempts == 3


async def test_dead_letter_and_replay(platform, live, receiver) -> None:
    down = f"http://127.0.0.1:{free_port()}/nobody"  # refused connections for the whole window
    d, intake, routes, pusher, smsids = await _pipeline(platform, live, down, 2)

    async def states():
        async with platform.engines.read.connect() as conn:
            return [r.state for r in await conn.execute(select(outbox.c.state))]

    deadline = time.monotonic() + 15
    while (s := await states()) != ["dead", "dead"]:
        assert time.monotonic() < deadline, s
        await asyncio.sleep(0.05)
    assert (await push_svc.list_pushes(platform, state="dead", api_id=live.account, limit=10))[0]["attempts"] >= 3
    # The customer fixes the endpoint: replay delivers the dead letters there.
    async with platform.engines.write.begin() as conn:
        await conn.execute(outbox.update().values(url=receiver.url))
    assert await push_svc.replay(platform, api_id=live.account, since=None) == 2
    await _wait(lambda: len(receiver.got) == 2)
    await pusher.stop()
    await _stop(d, intake, routes)
    assert set(receiver.got) == set(smsids)


async def test_redirects_are_not_followed(platform, live, receiver) -> None:
    """A 3xx is a failed attempt: the pusher never goes where it points, on another host or the same one."""
    other = Receiver()
    other.start()
    try:
        elsewhere = f"http://127.0.0.1:{other.port}/stolen"
        receiver.script = [(302, b"", [(b"location", elsewhere.encode())]), (307, b"", [(b"location", b"/again")])]
        d, intake, routes, pusher, smsids = await _pipeline(platform, live, receiver.url, 1)
        await _wait(lambda: len(receiver.got.get(smsids[0], [])) == 3)  # 302, 307, then 'success'
        await pusher.stop()
        await _stop(d, intake, routes)
    finally:
        other.stop()
    assert other.received() == 0
    assert [h.get("content-type") for h, _ in receiver.raw] == ["application/x-www-form-urlencoded"] * 3
    async with platform.engines.read.connect() as conn:
        row = (await conn.execute(select(outbox.c.state, outbox.c.attempts))).one()
    assert row.state == "delivered" and row.attempts == 3


async def test_per_host_limit_and_a_slow_host_stalls_no_one(platform, live, receiver) -> None:
    """A host gets at most ``per_host`` pushes at once; while it hangs, another host's pushes go through."""
    from hongyan.store import outbox as outbox_store
    from hongyan.store.accounts import get_account

    fast = Receiver()
    fast.start()
    receiver.hold = threading.Event()  # the slow customer: answers nothing until released
    policy = PushPolicy(base_s=0.05, window_s=30.0, jitter=0.0, timeout_s=20.0, per_host=3, host_backlog=6)
    pusher = Pusher(platform.engines.write, skip_locked=not platform.engines.is_sqlite, policy=policy, poll_s=0.01)
    try:
        async with platform.engines.write.begin() as conn:
            account_id = (await get_account(conn, live.account)).id
            rows = [(account_id, "receipt", f"slow{i}", receiver.url, {"smsid": f"slow{i}"}) for i in range(20)]
            rows += [(account_id, "receipt", f"fast{i}", fast.url, {"smsid": f"fast{i}"}) for i in range(20)]
            await outbox_store.enqueue(conn, rows)
        await pusher.start()
        await _wait(lambda: fast.received() == 20)
        assert receiver.received() == 3 and receiver.max_active == 3  # the slow host: per_host, no more
        receiver.hold.set()
        await _wait(lambda: receiver.received() == 20)
        await pusher.stop()
    finally:
        receiver.hold.set()
        fast.stop()
    assert receiver.max_active == 3 and fast.max_active <= 3
    assert sorted(receiver.got) == sorted(f"slow{i}" for i in range(20))
    assert all(len(v) == 1 for v in receiver.got.values()) and all(len(v) == 1 for v in fast.got.values())
    async with platform.engines.read.connect() as conn:
        states = [r.state for r in await conn.execute(select(outbox.c.state))]
    assert states == ["delivered"] * 40


def test_ssrf_guard() -> None:
    check_target("http://127.0.0.1/x", allow_private=True)
    for url in ("ftp://example.com/x", "http:///x", "http://127.0.0.1/x", "http://10.1.2.3/x", "http://[::1]/x"):
        with pytest.raises(UnsafeTarget):
            check_target(url, allow_private=False)


async def test_pull_reports_catch_up(platform, live, client) -> None:
    d, intake, routes, pusher, smsids = await _pipeline(platform, live, f"http://127.0.0.1:{free_port()}/x", 5)
    await _wait_states(platform, smsids, {"delivered"})
    await pusher.stop()
    await _stop(d, intake, routes)
    auth = {"authorization": f"Bearer {live.account}:{live.apikey}"}
    one = (await client.get(f"/v2/messages/{smsids[0]}", headers=auth)).json()
    assert one["state"] == "delivered" and one["code"] == 2 and one["carrier_status"] == "DELIVRD"
    assert (await client.get("/v2/messages/00000000000000000000", headers=auth)).status_code == 404
    got, since, after = [], 0, ""
    while True:
        page = (
            await client.get("/v2/reports", params={"since": since, "after": after, "limit": 2}, headers=auth)
        ).json()
        if not page["reports"]:
            break
        got += [r["smsid"] for r in page["reports"]]
        since, after = page["next_since"], page["next_after"]
    assert sorted(got) == sorted(smsids) and len(got) == 5


async def test_replies_unsubscribe_and_reply_push(platform, live, receiver, client) -> None:
    from hongyan.channels.base import InReply
    from hongyan.store.clock import now_ms
    from hongyan.workers.receipts import ReceiptIntake
    from tests.integration.test_compat_api import rejected, send

    await svc.set_fields(platform, live.account, reply_url=receiver.url)
    (smsid,) = await _send_many(platform, live, 1)
    intake = ReceiptIntake(platform.engines.write)
    pusher = Pusher(platform.engines.write, skip_locked=not platform.engines.is_sqlite, policy=FAST, poll_s=0.01)
    await pusher.start()
    await intake.on_reply("p", InReply("13900000000", "好的，收到", now_ms()))
    await intake.on_reply("p", InReply("8613900000000", "TD", now_ms()))
    await _wait(lambda: len(receiver.got.get("", [])) + len(receiver.got.get(smsid, [])) >= 2)
    await pusher.stop()
    pushed = receiver.got[smsid]
    assert sorted(p["content"] for p in pushed) == sorted(["好的，收到", "TD"])
    assert list(pushed[0]) == ["mobilephone", "content", "smsid", "reply_time"]
    await platform.policy.load()
    rejected(await send(client, live, mobile="13900000000"), 4030, "手机号码已被列入黑名单")


async def test_template_review_push(platform, live, receiver) -> None:
    from hongyan.domain.states import ReviewState
    from hongyan.store.accounts import add_template, get_account

    await svc.set_fields(platform, live.account, template_url=receiver.url)
    async with platform.engines.write.begin() as conn:
        account = await get_account(conn, live.account)
        t1 = await add_template(conn, account.id, "您的订单【变量】已发货", [8])
        t2 = await add_template(conn, account.id, "中奖啦【变量】", [8])
    await svc.review_template(platform, t1, ReviewState.APPROVED)
    await svc.review_template(platform, t2, ReviewState.REJECTED, "涉嫌营销欺诈")
    pusher = Pusher(platform.engines.write, skip_locked=not platform.engines.is_sqlite, policy=FAST, poll_s=0.01)
    await pusher.start()
    await _wait(lambda: len(receiver.got.get("", [])) == 2)
    await pusher.stop()
    assert sorted((p["templateid"], p["code"], p["msg"]) for p in receiver.got[""]) == sorted(
        [(str(t1), "2", "审核通过"), (str(t2), "0", "涉嫌营销欺诈")]
    )


async def test_a_process_with_delivery_and_pushes_shares_one_transaction_group(platform) -> None:
    """``Workers`` (serve's embedded workers, ``worker all``): on SQLite the pusher's cycles join the delivery
    side's transaction group; its receipt commits wake the pusher; a push-only process has a group of its own."""
    from hongyan.workers.process import Workers

    both, push_only = Workers(platform), Workers(platform, dispatch=False)
    assert (both.pusher._writer is both.delivery.txgroup) == platform.engines.is_sqlite  # PG: cycles on their own
    assert push_only.pusher._writer is not both.delivery.txgroup
    await both.start()
    try:
        assert both.pusher.wake in both.delivery.intake.on_finished
        assert both.pusher.wake in both.delivery.dispatcher.on_finished
    finally:
        await both.stop()
        await push_only.stop()
