"""Console reports (store.stats via services.reports) on seeded messages: Beijing days, rates, charts,
send-record search, CSV export, replies — and that an account only ever sees its own rows."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest
from sqlalchemy import insert, select

from hongyan.domain.days import BEIJING, day_start
from hongyan.services import accounts as svc
from hongyan.services import reports
from hongyan.services.reports import RecordFilter
from hongyan.store.tables import accounts, messages, replies


@pytest.fixture
def database_url(database_url: str, migrated_sqlite) -> str:
    return migrated_sqlite(database_url)


def bj(text: str) -> int:
    """Unix ms of a Beijing wall-clock time ``YYYY-MM-DD HH:MM:SS``."""
    return int(datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING).timestamp() * 1000)


NOW = bj("2026-11-27 10:30:00")
_seq = iter(range(10**6))


async def _account_id(platform, api_id: str) -> int:
    async with platform.engines.read.connect() as conn:
        return (await conn.execute(select(accounts.c.id).where(accounts.c.api_id == api_id))).scalar_one()


async def seed(platform, account_id: int, at: int, state: str, **extra) -> str:
    n = next(_seq)
    smsid = f"{at:013d}999{n % 10000:04d}"[-20:]
    row = {
        "smsid": smsid,
        "account_id": account_id,
        "mobile": extra.pop("mobile", "13800138000"),
        "carrier": extra.pop("carrier", "mobile"),
        "content": extra.pop("content", "【鸿雁科技】您的验证码是1234"),
        "segments": extra.pop("segments", 1),
        "state": state,
        "created_at": at,
        "updated_at": at,
        **extra,
    }
    async with platform.engines.write.begin() as conn:
        await conn.execute(insert(messages), row)
    return smsid


@pytest.fixture
async def two(platform):
    """Two accounts, (id_a, id_b)."""
    a = await svc.create_account(platform, "a-co", balance=100, live=True)
    b = await svc.create_account(platform, "b-co", balance=100, live=True)
    platform.clock = lambda: NOW / 1000
    return await _account_id(platform, a.account), await _account_id(platform, b.account)


async def test_today_counts_the_beijing_day_only(platform, two) -> None:
    a, b = two
    await seed(platform, a, bj("2026-11-27 00:00:00"), "delivered", segments=2)  # first ms of the day
    await seed(platform, a, bj("2026-11-27 09:00:00"), "undelivered", carrier_status="UNDELIV")
    await seed(platform, a, bj("2026-11-27 10:29:00"), "submitted")
    await seed(platform, a, bj("2026-11-26 23:59:59"), "delivered")  # yesterday (15:59:59 UTC)
    await seed(platform, b, bj("2026-11-27 08:00:00"), "delivered")
    o = await reports.overview(platform, a)
    t = o["today"]
    assert (t["sent"], t["segments"], t["delivered"], t["failed"], t["pending"]) == (3, 4, 1, 1, 1)
    assert t["delivery_rate"] == 0.5  # delivered / finished: the submitted one does not count yet
    system = await reports.overview(platform, None)
    assert system["today"]["sent"] == 4


async def test_no_rate_before_any_final_state(platform, two) -> None:
    a, _ = two
    o = await reports.overview(platform, a)
    assert o["today"]["sent"] == 0 and o["today"]["delivery_rate"] is None
    assert [d["sent"] for d in o["daily"]] == [0] * 7


async def test_seven_day_series_on_beijing_days(platform, two) -> None:
    a, b = two
    await seed(platform, a, bj("2026-11-21 00:00:00"), "delivered")  # first day of the window
    await seed(platform, a, bj("2026-11-20 23:59:59"), "delivered")  # outside
    await seed(platform, a, bj("2026-11-25 07:59:59"), "expired")  # 2026-11-24 23:59:59 UTC: still the 25th here
    await seed(platform, a, bj("2026-11-25 12:00:00"), "delivered")
    await seed(platform, a, bj("2026-11-27 10:00:00"), "rejected")
    await seed(platform, a, bj("2026-11-27 10:01:00"), "queued")
    await seed(platform, b, bj("2026-11-25 12:00:00"), "delivered")
    daily = (await reports.overview(platform, a))["daily"]
    assert [d["day"] for d in daily] == [f"2026-11-{d}" for d in range(21, 28)]
    by_day = {d["day"]: (d["sent"], d["delivered"], d["failed"]) for d in daily}
    assert by_day["2026-11-21"] == (1, 1, 0)
    assert by_day["2026-11-25"] == (2, 1, 1)
    assert by_day["2026-11-27"] == (2, 0, 1)
    assert sum(d["sent"] for d in daily) == 5


async def test_carrier_split(platform, two) -> None:
    a, b = two
    for carrier in ("mobile", "mobile", "unicom", "telecom", "mobile"):
        await seed(platform, a, bj("2026-11-26 12:00:00"), "delivered", carrier=carrier)
    await seed(platform, b, bj("2026-11-26 12:00:00"), "delivered", carrier="unicom")
    split = (await reports.overview(platform, a))["carriers"]
    assert [(c["carrier"], c["label"], c["count"]) for c in split] == [
        ("mobile", "中国移动", 3),
        ("telecom", "中国电信", 1),
        ("unicom", "中国联通", 1),
    ]


async def test_messages_per_minute_by_state(platform, two) -> None:
    a, b = two
    await seed(platform, a, bj("2026-11-27 10:30:10"), "delivered")
    await seed(platform, b, bj("2026-11-27 10:30:20"), "accepted")
    await seed(platform, a, bj("2026-11-27 10:28:59"), "undelivered")
    await seed(platform, a, bj("2026-11-27 09:30:59"), "delivered")  # before the 60-minute window
    chart = await reports.system_chart(platform, minutes=60)
    assert len(chart["labels"]) == 60 and chart["labels"][-1] == "10:30" and chart["labels"][0] == "09:31"
    assert chart["series"]["delivered"][-1] == 1 and chart["series"]["accepted"][-1] == 1
    assert chart["series"]["undelivered"][-3] == 1
    assert sum(sum(v) for v in chart["series"].values()) == 3


async def test_search_records_filters_pages_and_scope(platform, two) -> None:
    a, b = two
    ids = [await seed(platform, a, bj("2026-11-26 10:00:00") + i * 1000, "delivered") for i in range(25)]
    fail = await seed(
        platform, a, bj("2026-11-27 09:00:00"), "undelivered", carrier_status="MK:0005", mobile="13900139000"
    )
    other = await seed(platform, b, bj("2026-11-27 09:00:00"), "delivered")
    page1 = await reports.records(platform, a, RecordFilter(), per_page=10)
    assert page1.total == 26 and page1.pages == 3 and page1.has_next
    assert page1.rows[0]["smsid"] == fail  # newest first
    assert [r["smsid"] for r in page1.rows[1:]] == ids[::-1][:9]
    page3 = await reports.records(platform, a, RecordFilter(), page=3, per_page=10)
    assert [r["smsid"] for r in page3.rows] == ids[:6][::-1] and not page3.has_next

    failed = await reports.records(platform, a, RecordFilter(status="failed"))
    assert [r["smsid"] for r in failed.rows] == [fail]
    row = failed.rows[0]
    assert row["carrier_status"] == "MK:0005" and "关机" in row["carrier_meaning"]
    assert row["state_label"] == "发送失败" and row["carrier_label"] == "中国移动"
    assert (await reports.records(platform, a, RecordFilter(mobile="13900139000"))).total == 1
    assert (await reports.records(platform, a, RecordFilter(smsid=ids[3]))).rows[0]["smsid"] == ids[3]
    day = RecordFilter(start_ms=day_start(bj("2026-11-27 00:00:00")), end_ms=bj("2026-11-28 00:00:00"))
    assert [r["smsid"] for r in (await reports.records(platform, a, day)).rows] == [fail]

    # Scoping: b's smsid is invisible to a, whatever the filter; the operator (None) sees both.
    assert (await reports.records(platform, a, RecordFilter(smsid=other))).total == 0
    assert (await reports.records(platform, b, RecordFilter(smsid=fail))).total == 0
    assert (await reports.records(platform, None, RecordFilter(smsid=other))).total == 1
    assert (await reports.records(platform, None, RecordFilter())).total == 27
    with pytest.raises(ValueError):
        RecordFilter(status="nonsense").conditions()


async def test_csv_export_is_scoped_and_formula_safe(platform, two) -> None:
    a, b = two
    for i in range(5):
        await seed(platform, a, bj("2026-11-26 10:00:00") + i, "delivered", content=f'=HYPERLINK("x") {i}')
    await seed(platform, a, bj("2026-11-26 11:00:00"), "undelivered", carrier_status="UNDELIV", content="@SUM(1)")
    await seed(platform, b, bj("2026-11-26 12:00:00"), "delivered", content="b's secret")
    from hongyan.store import stats

    chunks = [c async for c in stats.export_csv(platform.engines.read, a, RecordFilter(), batch=2)]
    text = "".join(chunks)
    assert text.startswith("\ufeffsmsid,")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert len(rows) == 7 and rows[0][0] == "smsid"
    assert rows[1][4] == "'@SUM(1)" and rows[1][7] == "UNDELIV" and rows[1][9] == "2026-11-26 11:00:00"
    assert all(r[4].startswith("'=HYPERLINK") for r in rows[2:])
    assert "b's secret" not in text
    via_service = "".join([c async for c in reports.export_csv(platform, a, RecordFilter(status="failed"))])
    assert len(list(csv.reader(io.StringIO(via_service.lstrip("\ufeff"))))) == 2


async def test_replies_are_scoped_newest_first(platform, two) -> None:
    a, b = two
    async with platform.engines.write.begin() as conn:
        for i, (acc, text) in enumerate([(a, "TD"), (b, "好的"), (a, "收到"), (None, "stray")]):
            await conn.execute(
                insert(replies),
                {
                    "account_id": acc,
                    "mobile": "13800138000",
                    "content": text,
                    "smsid": None,
                    "channel": "cmcc",
                    "received_at": NOW - 1000 + i,
                },
            )
    mine = await reports.replies(platform, a)
    assert [r["content"] for r in mine.rows] == ["收到", "TD"] and mine.total == 2
    assert [r["content"] for r in (await reports.replies(platform, b)).rows] == ["好的"]
    assert (await reports.replies(platform, None)).total == 4
    assert (await reports.replies(platform, a, mobile="13900000000")).total == 0
