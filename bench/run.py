"""`make bench`: HTTP throughput and latency of Submit against a bare-ASGI baseline measured in the same run.

Starts each server as a real process on 127.0.0.1, loads it with wrk (64 connections, ``BENCH_SECONDS``
each, default 15), checks that every answered Submit was stored, and writes bench/results/latest.json,
latest.md and appends history.jsonl. PostgreSQL figures (``*_pg``) are added when a server is reachable.

End to end (``e2e_*``): hongyan + the SMSC simulator (DLR after 10 ms) + a receipt receiver in its own process;
a burst of ``BENCH_E2E_MESSAGES`` (default 10,000) submitted over 64 keep-alive connections measures throughput
(receipts pushed per second, from the first submit to the last receipt), then ``BENCH_E2E_PACED_S`` seconds at
``BENCH_E2E_RATE`` msg/s (default 1,000) measure latency under a steady load. Three layouts on SQLite: ``make run``
(``hongyan serve``: the API, and the workers in a ``hongyan worker all`` child it supervises), everything in one
process (``_inline``, ``HONGYAN_WORKER_PROCESS=false``), and the API plus ``hongyan worker dispatch`` and ``hongyan
worker push`` (``_split3``); on PostgreSQL the API plus ``hongyan worker all``.

``BENCH_ONLY=e2e`` runs only the end-to-end measurements, in the layouts of ``BENCH_E2E_LAYOUTS`` (comma-separated
``one``, ``inline``, ``split`` (API + ``hongyan worker all`` started by hand), ``split3``, ``pg``; default
``one,split``), prints them as JSON and writes nothing (for quick A/B runs).
``BENCH_ONLY=submit`` runs only the baseline and the one-process SQLite Submit (for quick A/B runs of the accept
path); it prints its figures as one JSON line and writes nothing under bench/results/.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import e2e_load  # bench/ is on sys.path when run as a script

from hongyan import native

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
BIN = Path(sys.executable).parent
SECONDS = int(os.environ.get("BENCH_SECONDS", "15"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "64"))
PG_URL = os.environ.get("PG_TEST_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
ONLY = os.environ.get("BENCH_ONLY", "")


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}") from None
            if time.monotonic() > deadline:
                raise TimeoutError("server did not start") from None
            time.sleep(0.05)


def tree_pids(pid: int) -> list[int]:
    """``pid`` and its children (uvicorn's workers, serve's worker child)."""
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [pid, *(int(k) for k in out)]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes so far (from /proc; 0 for one that is gone)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


def wrk(port: int, env: dict[str, str]) -> dict[str, float]:
    out = subprocess.run(
        [
            "wrk",
            "-t",
            "2",
            "-c",
            str(CONNECTIONS),
            "-d",
            f"{SECONDS}s",
            "--timeout",
            "10s",
            "-s",
            str(ROOT / "bench" / "submit.lua"),
            f"http://127.0.0.1:{port}/webservice/sms.php",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=SECONDS + 60,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    lat = re.search(r"BENCH_LAT p50=([\d.]+) p99=([\d.]+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "requests": total,
        "p50_ms": float(lat.group(1)),
        "p99_ms": float(lat.group(2)),
        "socket_errors": errors.group(1) if errors else "",
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
    }


def baseline() -> dict[str, float]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "baseline_app.py"), str(port)])
    try:
        wait_port(port, proc)
        return wrk(port, {"BENCH_ACCOUNT": "C00000000", "BENCH_APIKEY": "x"})
    finally:
        proc.terminate()
        proc.wait(10)


def hongyan_env(tmp: Path, url: str) -> dict[str, str]:
    return {
        **os.environ,
        "HONGYAN_DATABASE_URL": url,
        "HONGYAN_VAR_DIR": str(tmp),
        "HONGYAN_SECRET_KEY": "bench",
        "HONGYAN_LOG_LEVEL": "warning",
        "HONGYAN_EMBEDDED_WORKERS": "false",  # the accept path alone; delivery is measured end to end
        "HONGYAN_LIMIT_PER_SECOND": "1000000",
        "HONGYAN_LIMIT_DAILY": "1000000000",
        "HONGYAN_LIMIT_DAILY_CODES": "1000000000",
        "HONGYAN_LIMIT_DAILY_CEILING": "1000000000",
    }


def cli(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [str(BIN / "hongyan"), *args], env=env, capture_output=True, text=True, check=True, timeout=120
    ).stdout


def count_messages(url: str) -> int:
    if url.startswith("sqlite"):
        con = sqlite3.connect(url.split("///", 1)[1])
        try:
            return con.execute("SELECT count(*) FROM messages").fetchone()[0]
        finally:
            con.close()

    async def pg() -> int:
        import asyncpg
        from sqlalchemy.engine import make_url

        u = make_url(url)
        conn = await asyncpg.connect(host=u.host, port=u.port or 5432, user=u.username, database=u.database)
        try:
            return await conn.fetchval("SELECT count(*) FROM messages")
        finally:
            await conn.close()

    return asyncio.run(pg())


def submit_run(url: str, tmp: Path, *, workers: int = 1, redis_url: str | None = None) -> dict[str, float]:
    """wrk against ``hongyan serve --workers N`` (N API processes sharing the database; counters in Redis when
    ``redis_url`` is given, else in the database)."""
    env = hongyan_env(tmp, url)
    if redis_url:
        env["HONGYAN_REDIS_URL"] = redis_url
    elif workers > 1:
        env["HONGYAN_COUNTERS"] = "sql"  # limits shared by the processes
    creds = json.loads(cli(env, "account", "create", "bench", "--live", "--balance", "1000000000", "--json"))
    cli(env, "signature", "add", creds["account"], "鸿雁", "--approve")
    port = free_port()
    cmd = [str(BIN / "hongyan"), "serve", "--port", str(port), "--workers", str(workers)]
    proc = subprocess.Popen(cmd, env=env, cwd=tmp)
    try:
        wait_port(port, proc)
        time.sleep(0.5)  # every uvicorn worker up
        pids = tree_pids(proc.pid)
        cpu0 = cpu_seconds(pids)
        res = wrk(port, {"BENCH_ACCOUNT": creds["account"], "BENCH_APIKEY": creds["apikey"]})
        # CPU of the API processes per answered Submit: steadier than the rate on a shared, noisy machine.
        res["cpu_us_per_req"] = round((cpu_seconds(pids) - cpu0) / max(res["requests"], 1) * 1e6, 1)
        res["rss_mb"] = peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(20)
    stored = count_messages(url)
    res["stored"] = stored
    # Every answered request is a durable message (wrk may cut a few requests off at the end).
    res["stored_ratio"] = round(stored / max(res["requests"], 1), 4)
    return res


E2E_MESSAGES = int(os.environ.get("BENCH_E2E_MESSAGES", "10000"))
E2E_RATE = float(os.environ.get("BENCH_E2E_RATE", "1000"))
E2E_PACED_S = float(os.environ.get("BENCH_E2E_PACED_S", "10"))


# (key suffix, `hongyan worker` roles started beside the API process, description, HONGYAN_WORKER_PROCESS); with no
# roles, `serve` runs the workers itself: in a child process it supervises (the default), or in its own process.
E2E_LAYOUTS: tuple[tuple[str, tuple[str, ...], str, bool], ...] = (
    ("", (), "make run: API + its `worker all` child", True),
    ("_inline", (), "one process (HONGYAN_WORKER_PROCESS=false)", False),
    ("_split", ("all",), "API + `hongyan worker all`", True),
    ("_split3", ("dispatch", "push"), "API + `hongyan worker dispatch` + `hongyan worker push`", True),
)
E2E_DEFAULT = ("", "_inline", "_split3")  # `_split` is what `make run` does now, started by hand: on request only


def e2e_phases(port: int, creds: dict, receiver_port: int, tmp: Path) -> dict[str, float]:
    """A burst of E2E_MESSAGES as fast as 64 connections go (throughput), then E2E_PACED_S seconds at
    E2E_RATE msg/s (latency at a steady load); each counts the receipts that reach the receiver."""
    res: dict[str, float] = {}
    receiver = e2e_load.Receiver(receiver_port, E2E_MESSAGES, str(tmp / "burst.json"))
    sent, t0, t1 = e2e_load.run_loop(e2e_load.submit(port, creds["account"], creds["apikey"], E2E_MESSAGES))
    burst = e2e_load.summarise(sent, receiver.result(180), t0)
    res.update({f"e2e_{k}": v for k, v in burst.items()})
    res["e2e_submit_per_s"] = round(E2E_MESSAGES / (t1 - t0), 1)
    paced_n = int(E2E_RATE * E2E_PACED_S)
    receiver = e2e_load.Receiver(receiver_port, paced_n, str(tmp / "paced.json"))
    sent, t0, _ = e2e_load.run_loop(
        e2e_load.submit(port, creds["account"], creds["apikey"], paced_n, rate=E2E_RATE, first=E2E_MESSAGES)
    )
    paced = e2e_load.summarise(sent, receiver.result(180), t0)
    res.update({"paced_rate": E2E_RATE, "paced_p50_ms": paced["p50_ms"], "paced_p99_ms": paced["p99_ms"]})
    res["paced_receipts"] = paced["receipts"]
    return res


def e2e_run(
    url: str, tmp: Path, *, split: bool = True, workers: tuple[str, ...] = ("all",), worker_process: bool = True
) -> dict[str, float]:
    """``split``: the API in one process and a ``hongyan worker ROLE`` process for each of ``workers`` (``all``: the
    production layout, one per core); else ``serve`` runs the workers (``HONGYAN_EMBEDDED_WORKERS``, the ``make run``
    default): in a child process it supervises, or with ``worker_process=False`` in its own process."""
    env = {
        **hongyan_env(tmp, url),
        "HONGYAN_EMBEDDED_WORKERS": "false" if split else "true",
        "HONGYAN_WORKER_PROCESS": "true" if worker_process else "false",
    }
    creds = json.loads(cli(env, "account", "create", "bench", "--live", "--balance", "1000000000", "--json"))
    cli(env, "signature", "add", creds["account"], "鸿雁", "--approve")
    receiver_port, smsc_port, port = free_port(), free_port(), free_port()
    cli(env, "account", "set", creds["account"], "--receipt-url", f"http://127.0.0.1:{receiver_port}/r")
    cli(
        env,
        "channel",
        "add",
        "sim",
        "--smpp",
        f"127.0.0.1:{smsc_port}",
        "--system-id",
        "bench",
        "--password",
        "bench",
        "--tps",
        "50000",
        "--window",
        "200",
    )
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hongyan.simulator",
            "--port",
            str(smsc_port),
            "--control-port",
            "-1",
            "--system-id",
            "bench",
            "--password",
            "bench",
            "--dlr-delay",
            "0.01",
            "--window",
            "200",
        ],
        stdout=subprocess.DEVNULL,
    )
    procs = [subprocess.Popen([str(BIN / "hongyan"), "serve", "--port", str(port)], env=env, cwd=tmp)]
    if split:
        procs += [subprocess.Popen([str(BIN / "hongyan"), "worker", role], env=env, cwd=tmp) for role in workers]
    try:
        wait_port(smsc_port, sim)
        wait_port(port, procs[0])
        time.sleep(1.5)  # the channel binds
        res = e2e_phases(port, creds, receiver_port, Path(tmp))
        pids = [pid for p in procs for pid in tree_pids(p.pid)]  # with serve's worker child
        res["rss_mb_e2e"] = round(sum(peak_rss_mb(pid) for pid in pids), 1)
    finally:
        for p in procs:
            p.terminate()
        sim.terminate()
        for p in procs:
            p.wait(20)
        sim.wait(10)
    return res


def push_bench() -> dict[str, float]:
    """bench/push_bench.py in its own process (it starts its receiver as another); its JSON keys we report."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "push_bench.py")], capture_output=True, text=True, timeout=300
    )
    if out.returncode != 0:
        log(f"push bench failed: {out.stderr[-500:]}")
        return {}
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return {k: data[k] for k in ("push_per_s", "dlr_to_push_p50_ms", "dlr_to_push_p99_ms") if k in data}


def redis_url() -> str | None:
    """A Redis for the production-layout run (``BENCH_REDIS_URL``), when one answers PING."""
    url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        import redis

        redis.Redis.from_url(url, socket_timeout=2).ping()
    except Exception:
        return None
    return url


def pg_database() -> str | None:
    async def make() -> str | None:
        import asyncpg
        from sqlalchemy.engine import make_url

        u = make_url(PG_URL)
        try:
            conn = await asyncio.wait_for(
                asyncpg.connect(host=u.host, port=u.port or 5432, user=u.username, database=u.database), 3
            )
        except (OSError, TimeoutError, asyncpg.PostgresError):
            return None
        name = f"hongyan_bench_{os.getpid()}"
        await conn.execute(f"DROP DATABASE IF EXISTS {name}")
        await conn.execute(f"CREATE DATABASE {name}")
        await conn.close()
        return u.set(database=name).render_as_string(hide_password=False)

    return asyncio.run(make())


def e2e_only() -> dict:
    """``BENCH_ONLY=e2e``: the end-to-end runs of ``BENCH_E2E_LAYOUTS`` only; printed, not written."""
    layouts = [x.strip() for x in os.environ.get("BENCH_E2E_LAYOUTS", "one,split").split(",") if x.strip()]
    result: dict[str, object] = {"loadavg_1m_start": round(os.getloadavg()[0], 2)}
    for layout in layouts:
        with tempfile.TemporaryDirectory(prefix="hongyan-bench-e2e-") as tmp:
            log(f"end to end, layout {layout}: {E2E_MESSAGES} messages")
            if layout == "pg":
                url = pg_database()
                if url is None:
                    log("no PostgreSQL; skipped")
                    continue
                e = e2e_run(url, Path(tmp), split=True)
            else:
                suffix, roles, _, child = next(
                    x for x in E2E_LAYOUTS if x[0] == ("" if layout == "one" else f"_{layout}")
                )
                e = e2e_run(
                    f"sqlite+aiosqlite:///{tmp}/e2e.db",
                    Path(tmp),
                    split=bool(roles),
                    workers=roles,
                    worker_process=child,
                )
        suffix = {"one": "", "inline": "_inline", "split": "_split", "split3": "_split3", "pg": "_pg"}[layout]
        result.update({k + suffix: v for k, v in e.items()})
    result["loadavg_1m_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result, indent=2))
    return result


def main() -> dict:
    if ONLY == "e2e":
        return e2e_only()
    RESULTS.mkdir(parents=True, exist_ok=True)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    result: dict[str, object] = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip(),
        "cores": os.cpu_count(),
        "native_modules": len(native.compiled()),  # of len(native.MODULES) compiled with mypyc (0: plain Python)
        "seconds": SECONDS,
        "connections": CONNECTIONS,
        "loadavg_1m_start": round(os.getloadavg()[0], 2),
    }
    log("baseline: bare ASGI app, same server settings")
    b = baseline()
    result["baseline_rps"] = b["rps"]
    with tempfile.TemporaryDirectory(prefix="hongyan-bench-") as tmp:
        log("submit on embedded SQLite")
        s = submit_run(f"sqlite+aiosqlite:///{tmp}/bench.db", Path(tmp))
        db_bytes = Path(tmp, "bench.db").stat().st_size + sum(p.stat().st_size for p in Path(tmp).glob("bench.db-*"))
    result.update(
        {
            "submit_rps": s["rps"],
            "submit_p50_ms": s["p50_ms"],
            "submit_p99_ms": s["p99_ms"],
            "submit_stored_ratio": s["stored_ratio"],
            "submit_cpu_us_per_req": s["cpu_us_per_req"],
            "rss_mb": s["rss_mb"],
            "db_mb_per_million": round(db_bytes / max(s["stored"], 1) * 1e6 / 2**20, 1),
            "ratio_submit_to_baseline": round(s["rps"] / b["rps"], 3),
        }
    )
    if ONLY == "submit":
        return write_submit_only(result)
    with tempfile.TemporaryDirectory(prefix="hongyan-bench-2-") as tmp:
        log("submit on embedded SQLite, 2 API processes")
        s2 = submit_run(f"sqlite+aiosqlite:///{tmp}/bench.db", Path(tmp), workers=2)
    result.update(
        {
            "submit_rps_2proc": s2["rps"],
            "submit_p99_ms_2proc": s2["p99_ms"],
            "submit_cpu_us_per_req_2proc": s2["cpu_us_per_req"],
        }
    )
    for suffix, roles, layout, child in E2E_LAYOUTS:
        if suffix not in E2E_DEFAULT:
            continue
        with tempfile.TemporaryDirectory(prefix="hongyan-bench-e2e-") as tmp:
            log(f"end to end on SQLite, {layout}: {E2E_MESSAGES} messages, simulator, receipts pushed to a receiver")
            e = e2e_run(
                f"sqlite+aiosqlite:///{tmp}/e2e.db", Path(tmp), split=bool(roles), workers=roles, worker_process=child
            )
        result.update({k + suffix: v for k, v in e.items()})
    log("pushes: outbox → local receiver, and DLR arrival → push latency (bench/push_bench.py)")
    result.update(push_bench())
    pg = pg_database()
    if pg:
        with tempfile.TemporaryDirectory(prefix="hongyan-bench-pg-") as tmp:
            log("submit on PostgreSQL")
            p = submit_run(pg, Path(tmp))
        result.update(
            {
                "submit_rps_pg": p["rps"],
                "submit_p50_ms_pg": p["p50_ms"],
                "submit_p99_ms_pg": p["p99_ms"],
                "submit_stored_ratio_pg": p["stored_ratio"],
            }
        )
        redis = redis_url()
        if redis:
            pg = pg_database()
            with tempfile.TemporaryDirectory(prefix="hongyan-bench-pg-2-") as tmp:
                log("submit on PostgreSQL + Redis, 2 API processes (production layout)")
                p2 = submit_run(pg, Path(tmp), workers=2, redis_url=redis)
            result.update({"submit_rps_pg_2proc": p2["rps"], "submit_p99_ms_pg_2proc": p2["p99_ms"]})
        pg = pg_database()
        with tempfile.TemporaryDirectory(prefix="hongyan-bench-pg-e2e-") as tmp:
            log("end to end on PostgreSQL, API + `hongyan worker all`")
            e = e2e_run(pg, Path(tmp), split=True)
        result.update({k + "_pg": v for k, v in e.items()})
    result["loadavg_1m_end"] = round(os.getloadavg()[0], 2)
    write(result)
    return result


def write_submit_only(result: dict) -> dict:
    """``BENCH_ONLY=submit``: the figures as one JSON line on stdout."""
    result["loadavg_1m_end"] = round(os.getloadavg()[0], 2)
    result["only"] = "submit"
    print(json.dumps(result))
    return result


def write(result: dict) -> None:
    (RESULTS / "latest.json").write_text(json.dumps(result, indent=2) + "\n")
    with (RESULTS / "history.jsonl").open("a") as fh:
        fh.write(json.dumps(result) + "\n")
    rows = [
        ("baseline_rps", "bare ASGI app, same server (ceiling)", ""),
        ("submit_rps", "Submit/s, SQLite, durable before answer", "≥ 10,000"),
        ("submit_p50_ms", "Submit p50 latency (ms)", ""),
        ("submit_p99_ms", "Submit p99 latency (ms)", "< 20"),
        ("ratio_submit_to_baseline", "Submit / baseline", "≥ 0.25"),
        ("submit_stored_ratio", "messages stored / requests answered", "1.0"),
        ("submit_cpu_us_per_req", "CPU of the API process per Submit (µs, all its threads)", ""),
        ("rss_mb", "peak RSS of the server (MB)", ""),
        ("db_mb_per_million", "SQLite size per million messages (MB)", ""),
        ("submit_rps_2proc", "Submit/s, SQLite, 2 API processes", "≥ 10,000"),
        ("submit_p99_ms_2proc", "Submit p99 (ms), 2 API processes", "< 20"),
        ("submit_cpu_us_per_req_2proc", "CPU per Submit (µs), 2 API processes (HONGYAN_COUNTERS=sql)", ""),
    ]
    for suffix, layout in (
        ("", "make run: API + worker child"),
        ("_inline", "one process"),
        ("_split", "API + worker process"),
        ("_split3", "API + dispatch + push processes"),
        ("_pg", "PostgreSQL, split"),
    ):
        rows += [
            (f"e2e_msgs_per_s{suffix}", f"end to end msg/s, burst ({layout}): submit → SMPP → DLR → pushed", "≥ 3,000"),
            (f"e2e_submit_per_s{suffix}", f"accepted/s during the burst ({layout})", ""),
            (f"e2e_p50_ms{suffix}", f"burst: submit → receipt pushed p50 (ms) ({layout})", ""),
            (f"e2e_p99_ms{suffix}", f"burst: submit → receipt pushed p99 (ms) ({layout})", "< 500"),
            (f"e2e_receipts{suffix}", f"receipts pushed of the burst ({layout})", ""),
            (f"paced_p50_ms{suffix}", f"at {E2E_RATE:.0f} msg/s: submit → pushed p50 (ms) ({layout})", ""),
            (f"paced_p99_ms{suffix}", f"at {E2E_RATE:.0f} msg/s: submit → pushed p99 (ms) ({layout})", "< 150"),
            (f"paced_receipts{suffix}", f"receipts pushed of the paced run ({layout})", ""),
            (f"rss_mb_e2e{suffix}", f"peak RSS, end to end (MB) ({layout})", ""),
        ]
    rows += [
        ("push_per_s", "receipt pushes/s to a local receiver (one pusher, 32 per host)", ""),
        ("dlr_to_push_p50_ms", "DLR arrival → push received p50 (ms), 250 DLR/s", ""),
        ("dlr_to_push_p99_ms", "DLR arrival → push received p99 (ms), 250 DLR/s", ""),
        ("submit_rps_pg", "Submit/s, PostgreSQL", ""),
        ("submit_p99_ms_pg", "Submit p99 (ms), PostgreSQL", ""),
        ("submit_rps_pg_2proc", "Submit/s, PostgreSQL + Redis, 2 API processes", ""),
        ("submit_p99_ms_pg_2proc", "Submit p99 (ms), PostgreSQL + Redis, 2 API processes", ""),
    ]
    lines = [
        f"# hongyan bench — {result['date']} ({result['commit']}, {result['cores']} cores, "
        f"load {result['loadavg_1m_start']}→{result['loadavg_1m_end']}, {result['seconds']} s each, "
        f"{result['connections']} connections, {result.get('native_modules', 0)} of {len(native.MODULES)} Submit-path "
        "modules compiled)",
        "",
        "| key | what | value | goal |",
        "|---|---|---|---|",
    ]
    lines += [f"| `{k}` | {what} | {result[k]} | {goal} |" for k, what, goal in rows if k in result]
    md = "\n".join(lines) + "\n"
    (RESULTS / "latest.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
