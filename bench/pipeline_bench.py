"""Per-request cost of the Submit checks (no store) and of the sensitive-word scan (10,000 words, 300 chars).

Prints JSON. The word scan target is < 50 µs for a 300-character message with a 10,000-word list. Each
figure is the best of BENCH_REPEATS runs of BENCH_N calls (the least disturbed by other processes on the
machine), with the median alongside; ``pipeline_checks_us`` splits the pipeline's time by check.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import time
from collections.abc import Callable

from hongyan.domain.account import AccountView
from hongyan.domain.states import AccountState
from hongyan.domain.templates import default_template
from hongyan.domain.words import WordFilter
from hongyan.pipeline.context import Check, PipelineConfig, SubmitContext, SubmitRequest
from hongyan.pipeline.run import SUBMIT_CHECKS, run_checks
from hongyan.policy.counters import MemoryCounters

N = int(os.environ.get("BENCH_N", "20000"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "5"))
TARGET_WORD_SCAN_US = 50.0
CJK = [chr(c) for c in range(0x4E00, 0x9FA5)]


def words(n: int, rng: random.Random) -> list[str]:
    """A deterministic pessimistic list: 2–5 characters drawn from all 20,901 CJK ideographs."""
    return ["".join(rng.choice(CJK) for _ in range(rng.randint(2, 5))) for _ in range(n)]


def message(rng: random.Random, chars: int = 300) -> str:
    return "".join(rng.choice(CJK + list("，。！ abc123")) for _ in range(chars))


def per_call_us(fn: Callable[[], object], n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1e6


class Policy:
    def __init__(self, wf: WordFilter) -> None:
        self.words = wf

    def is_blacklisted(self, account_id: int, mobile: str) -> bool:
        return False


def timed(checks: tuple[Check, ...], spent: dict[str, float]) -> tuple[Check, ...]:
    """The checks, each adding its own time (awaits included) to ``spent``."""

    def wrap(check: Check) -> Check:
        name = f"{check.__module__.rsplit('.', 1)[-1]}.{check.__name__}"
        spent.setdefault(name, 0.0)

        async def run(ctx: SubmitContext):
            t0 = time.perf_counter()
            verdict = check(ctx)
            if asyncio.iscoroutine(verdict):
                verdict = await verdict
            spent[name] += time.perf_counter() - t0
            return verdict

        return run

    return tuple(wrap(c) for c in checks)


async def pipeline_us(wf: WordFilter, n: int, checks: tuple[Check, ...] = SUBMIT_CHECKS) -> float:
    account = AccountView(
        1,
        "C00000001",
        "k" * 32,
        AccountState.LIVE,
        approved_signatures=frozenset({"鸿雁"}),
        default_signature="鸿雁",
        templates={1: default_template()},
    )

    async def lookup(_: str) -> AccountView:
        return account

    config = PipelineConfig(600, "鸿雁短信", 300, time.time, 10**9, 10**9, 10**9, 10**9)
    counters = MemoryCounters()
    policy = Policy(wf)
    t0 = time.perf_counter()
    for i in range(n):
        ctx = SubmitContext(
            req=SubmitRequest(
                "C00000001", "k" * 32, f"138{i % 10**8:08d}", "【鸿雁】您的验证码是：1234。请不要把验证码泄露给其他人。"
            ),
            config=config,
            lookup=lookup,
            policy=policy,
            counters=counters,
        )
        assert await run_checks(ctx, checks) is None
    return (time.perf_counter() - t0) / n * 1e6


def main() -> dict[str, object]:
    rng = random.Random(42)
    t0 = time.perf_counter()
    wf = WordFilter(words(10_000, rng))
    build_ms = (time.perf_counter() - t0) * 1e3
    text = message(rng)
    assert len(text) == 300 and wf.find(text) is None  # no hit: the scan reads the whole text
    scan = [per_call_us(lambda: wf.find(text), N) for _ in range(REPEATS)]
    pipeline = [asyncio.run(pipeline_us(wf, N)) for _ in range(REPEATS)]
    spent: dict[str, float] = {}
    asyncio.run(pipeline_us(wf, N, timed(SUBMIT_CHECKS, spent)))
    return {
        "word_list_size": wf.size,
        "word_automaton_build_ms": round(build_ms, 1),
        "word_scan_300_chars_us": round(min(scan), 2),
        "word_scan_300_chars_us_median": round(statistics.median(scan), 2),
        "word_scan_target_us": TARGET_WORD_SCAN_US,
        "word_scan_within_target": min(scan) < TARGET_WORD_SCAN_US,
        "pipeline_per_request_us": round(min(pipeline), 2),
        "pipeline_per_request_us_median": round(statistics.median(pipeline), 2),
        "pipeline_checks_us": {k: round(v / N * 1e6, 2) for k, v in sorted(spent.items(), key=lambda kv: -kv[1])},
        "n": N,
        "repeats": REPEATS,
        "cores": os.cpu_count() or 0,
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2, ensure_ascii=False))
