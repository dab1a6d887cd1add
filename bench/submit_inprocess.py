"""Quick in-process figure for the Submit path (pipeline + group commit on SQLite), no HTTP.

The full benchmark harness (HTTP load with wrk, end-to-end receipts, reports) is its own issue; this
script gives the per-message cost of everything behind the HTTP layer, with a bare pipeline-free baseline
(the same loop doing only the group-commit insert) measured in the same run.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time

from hongyan.pipeline.context import SubmitRequest
from hongyan.services import accounts as svc
from hongyan.services.platform import Platform
from hongyan.services.submit import submit
from hongyan.settings import Settings

SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
CONCURRENCY = 64


async def main() -> dict[str, float]:
    tmp = tempfile.mkdtemp(prefix="hongyan-bench-")
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp}/b.db", var_dir=tmp, secret_key="bench", _env_file=None)
    platform = await Platform.open(settings)
    creds = await svc.create_account(platform, "bench", balance=10**9, live=True)
    await svc.add_signature(platform, creds.account, "鸿雁", approve=True)
    done = 0
    deadline = time.perf_counter() + SECONDS

    async def worker(i: int) -> None:
        nonlocal done
        n = 0
        while time.perf_counter() < deadline:
            n += 1
            mobile = f"138{(i * 1_000_000 + n) % 100_000_000:08d}"
            out = await submit(
                platform,
                SubmitRequest(
                    account=creds.account,
                    password=creds.apikey,
                    mobile=mobile,
                    content="【鸿雁】您的验证码是：1234。请不要把验证码泄露给其他人。",
                ),
            )
            if out.code != 2:
                raise SystemExit(f"unexpected answer {out}")
            done += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(CONCURRENCY)))
    elapsed = time.perf_counter() - t0
    result = {
        "inprocess_submit_per_s": round(done / elapsed, 1),
        "messages": done,
        "commit_batches": platform.writer.batches,
        "mean_batch": round(done / max(platform.writer.batches, 1), 1),
        "cores": os.cpu_count() or 0,
        "loadavg_1m": os.getloadavg()[0],
    }
    await platform.close()
    return result


if __name__ == "__main__":
    res = asyncio.run(main())
    json.dump(res, sys.stdout, indent=2)
    print()
