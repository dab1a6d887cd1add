"""Billing invariants (balance = sum of the ledger; one deduct row per accepted message, none otherwise) and
smsid properties (20 digits, unique, increasing), through the API and on ``SmsIdGenerator`` directly."""

from __future__ import annotations

import asyncio
import re
import threading

import httpx
import pytest
from sqlalchemy import func, select

from hongyan.domain.smsid import SmsIdGenerator
from hongyan.domain.states import LedgerKind
from hongyan.services import accounts as svc
from hongyan.services import billing
from hongyan.store.accounts import get_account, ledger_sum
from hongyan.store.tables import ledger, messages
from tests.conftest import MOBILE, SIGNATURE, Creds

URL = "/webservice/sms.php"
XML_TYPE = "text/xml; charset=utf-8"
SMSID = re.compile(rb"<smsid>(\d{20})</smsid>")


@pytest.fixture
def database_url(database_url: str, migrated_sqlite) -> str:
    """Each test's database is a clone of one migrated file (conftest.migrated_sqlite): no Alembic per test."""
    return migrated_sqlite(database_url)


def xml_answer(code: int, msg: str, smsid: str = "0") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<SubmitResult xmlns="http://106.ihuyi.com/">\n'
        f"<code>{code}</code>\n<msg>{msg}</msg>\n<smsid>{smsid}</smsid>\n</SubmitResult>\n"
    ).encode()


async def submit(client: httpx.AsyncClient, creds: Creds, **override: str) -> httpx.Response:
    form = {
        "account": creds.account,
        "password": creds.apikey,
        "mobile": MOBILE,
        "content": f"【{SIGNATURE}】您的订单已发货",
        **override,
    }
    return await client.post(URL + "?method=Submit", data=form)


def smsid_of(r: httpx.Response) -> str | None:
    """The id of an accepted answer (checked byte for byte), None for a refusal."""
    assert r.status_code == 200 and r.headers["content-type"] == XML_TYPE
    m = SMSID.search(r.content)
    if m is None:
        return None
    assert r.content == xml_answer(2, "提交成功", m.group(1).decode())
    return m.group(1).decode()


async def books(platform, api_id: str):
    """(balance, ledger sum, {smsid: segments} of its messages, [(kind, amount, smsid)] of its ledger)."""
    async with platform.engines.read.connect() as conn:
        row = await get_account(conn, api_id)
        total = await ledger_sum(conn, row.id)
        msgs = {
            r.smsid: r.segments
            for r in await conn.execute(
                select(messages.c.smsid, messages.c.segments).where(messages.c.account_id == row.id)
            )
        }
        rows = [
            (r.kind, r.amount, r.smsid)
            for r in await conn.execute(
                select(ledger.c.kind, ledger.c.amount, ledger.c.smsid)
                .where(ledger.c.account_id == row.id)
                .order_by(ledger.c.id)
            )
        ]
    return row.balance, total, msgs, rows


def assert_one_deduct_per_message(msgs: dict[str, int], rows: list[tuple[str, int, str | None]]) -> None:
    deducts = [(amount, smsid) for kind, amount, smsid in rows if kind == LedgerKind.DEDUCT.value]
    assert sorted(smsid for _, smsid in deducts) == sorted(msgs), "one deduct row per stored message, no other"
    for amount, smsid in deducts:
        assert amount == -msgs[smsid]


async def test_balance_is_the_sum_of_the_ledger(client, live, platform) -> None:
    sig = f"【{SIGNATURE}】"
    sends = [
        ({}, 1),
        ({"content": sig + "字" * 65}, 2),  # 71 characters
        ({"content": sig + "字" * 294}, 5),  # 300 characters
        ({"content": sig + "字" * 295}, 0),  # 4073
        ({"content": sig + "😀"}, 0),  # 4074
        ({"password": "wrong"}, 0),  # 405
        ({"mobile": "12345678901"}, 0),  # 406
        ({"content": "【别的公司】您好"}, 0),  # 4075
        ({"content": "【x】您好"}, 0),  # 4070
        ({"content": "您好"}, 1),  # default signature
        ({"templateid": "1", "content": "123456"}, 1),
    ]
    accepted: dict[str, int] = {}
    for override, segments in sends:
        smsid = smsid_of(await submit(client, live, **override))
        assert (smsid is not None) == (segments > 0), override
        if smsid:
            accepted[smsid] = segments
    await svc.topup(platform, live.account, 25, "top-up")
    refunded = next(iter(accepted))
    assert await billing.refund(platform, refunded, "carrier failure") is True
    assert await billing.refund(platform, refunded, "again") is False  # once only

    balance, total, msgs, rows = await books(platform, live.account)
    assert msgs == accepted
    assert balance == total == 1000 - sum(accepted.values()) + 25 + accepted[refunded]
    assert_one_deduct_per_message(msgs, rows)
    assert [kind for kind, _, _ in rows].count(LedgerKind.REFUND.value) == 1
    assert [(kind, amount) for kind, amount, _ in rows if kind != LedgerKind.DEDUCT.value] == [
        ("topup", 1000),
        ("topup", 25),
        ("refund", accepted[refunded]),
    ]
    r = await client.get(URL, params={"method": "GetNum", "account": live.account, "password": live.apikey})
    assert f"<num>{balance}</num>".encode() in r.content


async def test_200_concurrent_submits_against_120_segments(client, platform) -> None:
    c = await svc.create_account(platform, "x", balance=120, live=True)
    await svc.add_signature(platform, c.account, SIGNATURE, approve=True)
    creds = Creds(c.account, c.apikey)
    rs = await asyncio.gather(
        *[submit(client, creds, mobile=f"139{i:08d}", content=f"【{SIGNATURE}】通知{i}") for i in range(200)]
    )
    ids = [smsid_of(r) for r in rs]
    ok = [i for i in ids if i is not None]
    assert len(ok) == 120 and len(set(ok)) == 120
    assert sum(r.content == xml_answer(4051, "剩余条数不足") for r in rs) == 80

    balance, total, msgs, rows = await books(platform, c.account)
    assert balance == 0 == total
    assert set(msgs) == set(ok)
    assert_one_deduct_per_message(msgs, rows)
    async with platform.engines.read.connect() as conn:
        # no message row anywhere without its ledger row, and no deduct row without its message
        orphans = await conn.execute(
            select(func.count())
            .select_from(messages.outerjoin(ledger, ledger.c.smsid == messages.c.smsid))
            .where(ledger.c.id.is_(None))
        )
        assert orphans.scalar_one() == 0
        dangling = await conn.execute(
            select(func.count())
            .select_from(ledger.outerjoin(messages, ledger.c.smsid == messages.c.smsid))
            .where(ledger.c.kind == LedgerKind.DEDUCT.value, messages.c.id.is_(None))
        )
        assert dangling.scalar_one() == 0


async def test_two_segment_messages_never_overdraw(client, platform) -> None:
    c = await svc.create_account(platform, "odd", balance=11, live=True)
    await svc.add_signature(platform, c.account, SIGNATURE, approve=True)
    creds = Creds(c.account, c.apikey)
    two = f"【{SIGNATURE}】" + "字" * 65
    rs = await asyncio.gather(*[submit(client, creds, content=two) for _ in range(10)])
    assert sum(smsid_of(r) is not None for r in rs) == 5
    assert smsid_of(await submit(client, creds)) is not None  # the last single segment still fits
    balance, total, msgs, rows = await books(platform, c.account)
    assert balance == total == 0 and len(msgs) == 6
    assert_one_deduct_per_message(msgs, rows)


async def test_smsids_are_20_digits_unique_and_increasing(client, live, platform) -> None:
    sequential = []
    for i in range(40):
        smsid = smsid_of(await submit(client, live, content=f"【{SIGNATURE}】第{i}条"))
        assert smsid is not None and re.fullmatch(r"\d{20}", smsid)
        sequential.append(smsid)
    assert sequential == sorted(sequential) and len(set(sequential)) == 40
    assert [int(s) for s in sequential] == sorted(int(s) for s in sequential)
    # every id carries this process's node number in digits 14-16
    assert {s[13:16] for s in sequential} == {f"{platform.smsids.node:03d}"}
    concurrent = [smsid_of(r) for r in await asyncio.gather(*[submit(client, live) for _ in range(60)])]
    assert None not in concurrent and len(set(concurrent)) == 60
    assert min(concurrent) > sequential[-1]  # type: ignore[type-var]
    later = smsid_of(await submit(client, live))
    assert later is not None and later > max(concurrent)  # type: ignore[type-var]


# --- SmsIdGenerator -------------------------------------------------------------------------------


def test_generator_frozen_clock_25000_ids() -> None:
    gen = SmsIdGenerator(42, clock=lambda: 1_800_000_000.0)
    ids = [gen.next() for _ in range(25_000)]
    assert len(set(ids)) == 25_000
    assert ids == sorted(ids)
    assert all(len(i) == 20 and i.isdigit() for i in ids)
    assert {i[13:16] for i in ids} == {"042"}
    # 10,000 ids a millisecond; then the next millisecond is borrowed
    assert ids[0] == "1800000000000" + "042" + "0000"
    assert ids[9_999] == "1800000000000" + "042" + "9999"
    assert ids[10_000] == "1800000000001" + "042" + "0000"
    assert ids[24_999] == "1800000000002" + "042" + "4999"


def test_generator_clock_going_backwards() -> None:
    t = [1_800_000_000.0]
    gen = SmsIdGenerator(7, clock=lambda: t[0])
    ids = []
    for step in (0.001, 0.001, -0.5, 0.0, -3600.0, 0.002, 3600.0, -0.001, 0.0):
        t[0] += step
        ids += [gen.next() for _ in range(300)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert [int(i) for i in ids] == sorted(int(i) for i in ids)
    assert all(len(i) == 20 for i in ids)


@pytest.mark.parametrize("clock_steps", [(0.0,), (0.0005, -0.0005), (-1.0, 0.0, 0.001)])
def test_generators_with_different_nodes_never_collide(clock_steps) -> None:
    seen: set[str] = set()
    for node in (0, 1, 10, 100, 999):
        t = [1_800_000_000.0]
        gen = SmsIdGenerator(node, clock=lambda t=t: t[0])
        ids = []
        for i in range(6_000):
            t[0] += clock_steps[i % len(clock_steps)]
            ids.append(gen.next())
        assert len(set(ids)) == len(ids)
        assert not seen & set(ids)
        seen |= set(ids)


def test_generator_is_thread_safe() -> None:
    gen = SmsIdGenerator(3, clock=lambda: 1_800_000_000.0)
    out: list[list[str]] = [[] for _ in range(4)]

    def work(k: int) -> None:
        out[k].extend(gen.next() for _ in range(5_000))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    every = [i for chunk in out for i in chunk]
    assert len(set(every)) == 20_000
    assert all(chunk == sorted(chunk) for chunk in out)


@pytest.mark.parametrize("node", [-1, 1000, 12345])
def test_generator_node_range(node) -> None:
    with pytest.raises(ValueError):
        SmsIdGenerator(node)
