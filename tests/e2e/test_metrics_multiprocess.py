"""Prometheus multiprocess mode: `hongyan serve --workers 2` writes per-process files into one directory
(cleaned of dead processes' files at start) and /metrics, whichever worker answers, sums both."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
from prometheus_client.multiprocess import MultiProcessCollector

from hongyan.services import accounts as account_service
from hongyan.services.platform import Platform
from tests.conftest import SIGNATURE
from tests.e2e.cluster import Cluster, base_env
from tests.support import free_port

ROUND = 50  # submits per round; rounds go on until both workers have accepted some
MAX_ROUNDS = 40


def _sample(text: str, name: str, labels: str = "") -> float | None:
    m = re.search(rf"^{re.escape(name)}{re.escape(labels)} (\S+)$", text, re.MULTILINE)
    return float(m.group(1)) if m else None


def _submits_in(path: Path) -> float:
    """Accepted submits recorded in one process's counter file."""
    total = 0.0
    for metric in MultiProcessCollector.merge([str(path)], accumulate=True):
        for s in metric.samples:
            if s.name == "hongyan_submits_total" and s.labels.get("code") == "2":
                total += s.value
    return total


async def test_two_api_workers_metrics_are_summed(tmp_path, database_url, settings) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    stale = metrics_dir / "counter_4194303999.db"  # a previous run's process (no such pid): cleaned at start
    stale.write_bytes(b"garbage")
    platform = await Platform.open(settings)
    try:
        creds = await account_service.create_account(platform, "metrics-co", balance=ROUND * MAX_ROUNDS, live=True)
        await account_service.add_signature(platform, creds.account, SIGNATURE, approve=True)
    finally:
        await platform.close()
    port = free_port()
    cluster = Cluster(base_env(database_url, tmp_path), tmp_path)
    try:
        cluster.start("api", "serve", "--workers", "2", "--port", str(port))
        cluster.wait_port("api", port)
        assert not stale.exists()

        async def one(client: httpx.AsyncClient, i: int) -> int:
            r = await client.post(
                f"http://127.0.0.1:{port}/webservice/sms.php?method=Submit&format=json",
                data={
                    "account": creds.account,
                    "password": creds.apikey,
                    "mobile": f"137{i:08d}",
                    "content": f"【{SIGNATURE}】您的订单{i}已发货",
                },
                headers={"connection": "close"},  # a new connection each time: both workers accept some
            )
            return r.json()["code"]

        # The two workers share one listening socket and the kernel hands each connection to whichever
        # process is waiting in accept(): on a busy machine one may take a long run of them. Send in rounds
        # until both have accepted some (each round's connections are new ones), within a bound.
        sent = 0
        per_process: dict[str, float] = {}
        async with httpx.AsyncClient(timeout=30) as client:
            sem = asyncio.Semaphore(16)

            async def limited(i: int) -> int:
                async with sem:
                    return await one(client, i)

            for _ in range(MAX_ROUNDS):
                codes = await asyncio.gather(*(limited(sent + i) for i in range(ROUND)))
                assert codes == [2] * ROUND
                sent += ROUND
                per_process = {f.name: _submits_in(f) for f in metrics_dir.glob("counter_*.db")}
                if len([n for n in per_process.values() if n > 0]) == 2:
                    break
        assert len([n for n in per_process.values() if n > 0]) == 2, per_process  # both workers accepted some
        assert sum(per_process.values()) == sent
        # any worker's /metrics shows the sum over both, and the queue read from the database
        seen: set[float | None] = set()
        for _ in range(6):
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
            seen.add(_sample(text, "hongyan_submits_total", '{code="2"}'))
            assert _sample(text, "hongyan_messages_open", '{state="accepted"}') == sent
            assert _sample(text, "hongyan_pushes_pending") == 0
            assert _sample(text, "hongyan_commit_batch_size_count") > 0  # an unlabelled metric, from both files
            assert _sample(text, "hongyan_channels_available") == 0  # a live gauge: no worker process here
        assert seen == {float(sent)}
    finally:
        cluster.stop()
    assert cluster.procs["api"].returncode == 0
