"""Per-request cost of the Submit checks (no store) and of the sensitive-word scan (10,000 words, 300 chars).

Prints JSON. The word scan target is < 50 µs for a 300-character message with a 10,000-word list.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time

from hongyan.domain.account import AccountView
from hongyan.domain.states import AccountState
from hongyan.domain.templates import default_template
from hongyan.domain.words import WordFilter
from hongyan.pipeline.context import PipelineConfig, SubmitContext, SubmitRequest
from hongyan.pipeline.run import SUBMIT_CHECKS, run_checks
from hongyan.policy.counters import MemoryCounters

N = int(os.environ.get("BENCH_N", "20000"))
CJK = [chr(c) for c in range(0x4E00, 0x9FA5)]


def words(n: int, rng: random.Random) -> list[str]:
    return ["".join(rng.choice(CJK) for _ in range(rng.randint(2, 5))) for _ in range(n)]


def per_call_us(fn, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1e6


class Policy:
    def __init__(self, wf: WordFilter) -> None:
        self.words = wf

    def is_blacklisted(self, account_id: int, mobile: str) -> bool:
        return False


async def pipeline_us(wf: WordFilter, n: int) -> float:
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
        assert await run_checks(ctx, SUBMIT_CHECKS) is None
    return (time.perf_counter() - t0) / n * 1e6


def main() -> dict[str, float]:
    rng = random.Random(42)
    wf = WordFilter(words(10_000, rng))
    text = "".join(rng.choice(CJK + list("，。！ abc123")) for _ in range(300))
    return {
        "word_list_size": wf.size,
        "word_scan_300_chars_us": round(per_call_us(lambda: wf.find(text), N), 2),
        "pipeline_per_request_us": round(asyncio.run(pipeline_us(wf, N)), 2),
        "cores": os.cpu_count() or 0,
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
