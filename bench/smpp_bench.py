"""SMPP throughput: our SmppClient → our simulator over loopback, with receipts, for a fixed time.

Prints one JSON object: submits/s, receipts (DLRs)/s, submit→receipt latency, client CPU per message.
By default the simulator runs in its own process (as in production); ``--in-process`` runs both in one loop.

    .venv/bin/python bench/smpp_bench.py [--duration 5] [--window 100] [--in-process] [--no-uvloop]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time

from hongyan.simulator import Simulator
from hongyan.smpp import DeliverEvent, SmppClient

SYSTEM_ID = PASSWORD = "bench"


def _start_simulator_process(dlr_delay: float, window: int) -> tuple[subprocess.Popen[str], int]:
    cmd = [sys.executable, "-m", "hongyan.simulator", "--port", "0", "--control-port", "-1"]
    cmd += ["--system-id", SYSTEM_ID, "--password", PASSWORD, "--dlr-delay", str(dlr_delay), "--window", str(window)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise RuntimeError("simulator did not start")
    return proc, int(json.loads(line)["port"])


def _process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc; 0.0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(duration: float, window: int, in_process: bool, dlr_delay: float) -> dict[str, object]:
    proc = None
    sim = None
    if in_process:
        sim = Simulator(port=0, system_id=SYSTEM_ID, password=PASSWORD, dlr_delay_s=dlr_delay, window=window)
        await sim.start()
        port = sim.port
    else:
        proc, port = _start_simulator_process(dlr_delay, window)
    sent_at: dict[str, float] = {}
    latencies: list[float] = []
    counts = {"dlrs": 0, "dlrs_in_window": 0}
    deadline = 0.0

    def on_deliver(event: DeliverEvent) -> None:
        if event.receipt is None:
            return
        now = time.perf_counter()
        counts["dlrs"] += 1
        if now <= deadline:
            counts["dlrs_in_window"] += 1
        started = sent_at.pop(event.source_addr, None)
        if started is not None:
            latencies.append(now - started)

    client = SmppClient("127.0.0.1", port, SYSTEM_ID, PASSWORD, window=window, tps=None, on_deliver=on_deliver)
    await client.start()
    if not await client.wait_bound(10):
        raise RuntimeError(f"could not bind: {client.last_error}")
    submitted = 0
    stop = False

    async def worker(w: int) -> None:
        nonlocal submitted
        i = 0
        while not stop:
            i += 1
            mobile = f"138{w:04d}{i % 10000:04d}"
            sent_at[mobile] = time.perf_counter()
            await client.submit("10690000", mobile, f"bench message {w} {i}")
            submitted += 1

    cpu0 = time.process_time()
    sim_cpu0 = _process_cpu(proc.pid) if proc is not None else 0.0
    start = time.perf_counter()
    deadline = start + duration
    workers = [asyncio.create_task(worker(w)) for w in range(window * 2)]
    await asyncio.sleep(duration)
    stop = True
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - start
    drain_deadline = time.perf_counter() + 10
    while counts["dlrs"] < submitted and time.perf_counter() < drain_deadline:
        await asyncio.sleep(0.01)
    cpu = time.process_time() - cpu0
    sim_cpu = _process_cpu(proc.pid) - sim_cpu0 if proc is not None else None
    await client.close()
    if sim is not None:
        await sim.stop()
    if proc is not None:
        proc.terminate()
        proc.wait(10)
    p50, p99 = _percentile(latencies, 0.5), _percentile(latencies, 0.99)
    return {
        "bench": "smpp",
        "mode": "in-process" if in_process else "simulator-process",
        "loop": type(asyncio.get_running_loop()).__module__.split(".")[0],
        "window": window,
        "duration_s": round(elapsed, 3),
        "submitted": submitted,
        "submits_per_s": round(submitted / elapsed),
        "dlrs_per_s": round(counts["dlrs_in_window"] / elapsed),
        "dlrs_total": counts["dlrs"],
        "dlr_delay_s": dlr_delay,
        "submit_to_dlr_ms": {
            "p50": round(p50 * 1000, 2) if p50 is not None else None,
            "p99": round(p99 * 1000, 2) if p99 is not None else None,
        },
        "client_cpu_us_per_msg": round(cpu / max(1, submitted) * 1e6, 1),
        "simulator_cpu_us_per_msg": round(sim_cpu / max(1, submitted) * 1e6, 1) if sim_cpu is not None else None,
        "cpus": os.cpu_count(),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--window", type=int, default=100)
    p.add_argument("--dlr-delay", type=float, default=0.0)
    p.add_argument("--in-process", action="store_true")
    p.add_argument("--no-uvloop", action="store_true")
    ns = p.parse_args()
    coro = run(ns.duration, ns.window, ns.in_process, ns.dlr_delay)
    if ns.no_uvloop:
        result = asyncio.run(coro)
    else:
        import uvloop

        result = uvloop.run(coro)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
