"""The frequency-limit check answers without an await when the counters are in-process (``take_now``), and gives
the same verdicts, in the same order, as the awaited ``take`` of counters that need a round trip."""

from __future__ import annotations

import inspect

from hypothesis import given, settings
from hypothesis import strategies as st

from hongyan.domain.account import AccountView
from hongyan.domain.numbers import Number
from hongyan.domain.states import AccountState
from hongyan.pipeline.context import PipelineConfig, SubmitContext, SubmitRequest
from hongyan.pipeline.limits import frequency_limits
from hongyan.policy.counters import MemoryCounters


class RoundTrip:
    """Counters with only the awaited ``take`` (as SQL and Redis ones)."""

    def __init__(self, clock) -> None:
        self._inner = MemoryCounters(clock)

    async def take(self, windows, counted=None):
        return await self._inner.take(windows, counted)

    async def clear(self, keys) -> None:
        await self._inner.clear(keys)


class Clock:
    def __init__(self) -> None:
        self.now = 1_764_000_000.0

    def __call__(self) -> float:
        return self.now


def _ctx(counters, clock, content: str) -> SubmitContext:
    config = PipelineConfig(
        dynamic_password_window_s=300,
        default_signature="鸿雁",
        max_content_chars=500,
        clock=clock,
        limit_per_second=2,
        limit_daily=4,
        limit_daily_codes=3,
        limit_daily_ceiling=7,
    )
    ctx = SubmitContext(req=SubmitRequest("C1", "p", "13800138000", content), config=config, lookup=None)  # type: ignore[arg-type]
    ctx.account = AccountView(1, "C1", "k", AccountState.LIVE)
    ctx.number = Number("8613800138000", "13800138000", "mobile")
    ctx.text = content
    ctx.counters = counters
    return ctx


@settings(max_examples=40, deadline=None)
@given(steps=st.lists(st.tuples(st.booleans(), st.sampled_from([0.0, 0.3, 1.0, 5.0])), min_size=1, max_size=25))
async def test_sync_and_awaited_takes_agree(steps) -> None:
    c1, c2 = Clock(), Clock()
    memory, remote = MemoryCounters(c1), RoundTrip(c2)
    for is_code, advance in steps:
        c1.now += advance
        c2.now += advance
        content = "【鸿雁】您的验证码是：1234" if is_code else "【鸿雁】您的订单已发货"
        a, b = _ctx(memory, c1, content), _ctx(remote, c2, content)
        sync = frequency_limits(a)
        if sync is None or not inspect.isawaitable(sync):
            got = sync
        else:
            got = await sync  # only the 408 path awaits (it lists the number)
        awaited = frequency_limits(b)
        assert inspect.isawaitable(awaited)
        want = await awaited
        assert got == want
        assert a.taken == b.taken


async def test_in_process_counters_pass_without_an_await() -> None:
    clock = Clock()
    ctx = _ctx(MemoryCounters(clock), clock, "【鸿雁】您的订单已发货")
    assert frequency_limits(ctx) is None
    assert ctx.taken and all(k.endswith(("20251125", str(int(clock.now)))) for k in ctx.taken)
    second = frequency_limits(_ctx(ctx.counters, clock, "【鸿雁】您的订单已发货"))
    assert second is None
    third = frequency_limits(_ctx(ctx.counters, clock, "【鸿雁】您的订单已发货"))
    assert third is not None and not inspect.isawaitable(third) and third.code == 4080
