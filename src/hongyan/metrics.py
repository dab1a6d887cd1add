"""Prometheus metrics (served at /metrics). Names are prefixed ``hongyan_``.

Several processes (``serve --workers N``, ``hongyan worker …`` with ``HONGYAN_METRICS_DIR``) share one
multiprocess directory: :func:`enable_multiprocess` switches this process to it, :func:`render` then sums
every process's files (``MultiProcessCollector``), and :func:`process_exit` drops a stopped process's live
gauges (a killed one's are dropped at the next scrape).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry()

SUBMITS = Counter("hongyan_submits_total", "Submit answers by code", ["code"], registry=REGISTRY)
COMMIT_BATCH = Histogram(
    "hongyan_commit_batch_size",
    "Messages per group commit",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
    registry=REGISTRY,
)
CHANNEL_SUBMITS = Counter(
    "hongyan_channel_submits_total", "Submits by channel and outcome", ["channel", "outcome"], registry=REGISTRY
)
PUSHES = Counter("hongyan_pushes_total", "Push attempts by kind and outcome", ["kind", "outcome"], registry=REGISTRY)
CHANNELS_UP = Gauge(
    "hongyan_channels_available",
    "Channels bound and not throttled (summed over worker processes)",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
CHANNEL_INFLIGHT = Gauge(
    "hongyan_channel_inflight",
    "submit_sm in flight per channel; divide by hongyan_channel_window for the window use",
    ["channel"],
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
CHANNEL_WINDOW = Gauge(
    "hongyan_channel_window",
    "Window size per channel (summed over the processes bound to it)",
    ["channel"],
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
INTERRUPTED_SUBMITS = Counter(
    "hongyan_interrupted_submits_total",
    "Messages sent again after a worker died with their submit in flight and no receipt came (possible duplicates)",
    registry=REGISTRY,
)
RECONCILED_SUBMITS = Counter(
    "hongyan_interrupted_reconciled_total",
    "Messages a dead worker had in flight, recorded from their receipts instead of being sent again",
    registry=REGISTRY,
)
RECEIPT_TIMEOUTS = Counter(
    "hongyan_receipt_timeouts_total", "Messages expired with no receipt within the bound", registry=REGISTRY
)
UNPARSED_DELIVERIES = Counter(
    "hongyan_unparsed_deliveries_total", "deliver_sm that could not be parsed (kept)", ["channel"], registry=REGISTRY
)
MESSAGES_FINAL = Counter(
    "hongyan_messages_final_total",
    "Messages reaching a final state (delivered, undelivered, expired, rejected, failed), counted after the commit",
    ["state"],
    registry=REGISTRY,
)
DLR_LATENCY = Histogram(
    "hongyan_dlr_latency_seconds",
    "submit_sm accepted (submit recorded) to its receipt applied",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
    registry=REGISTRY,
)
BALANCE_LOW = Counter(
    "hongyan_balance_low_total",
    "Accounts whose balance fell below HONGYAN_BALANCE_LOW_SEGMENTS on accept (once per crossing)",
    registry=REGISTRY,
)


_MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# prometheus_client's multiprocess values ask the kernel for the pid on every inc/observe, to notice a fork; ours is
# remembered and renewed in a forked child (a system call less per Submit answer).
_PID = [os.getpid()]


def _renew_pid() -> None:
    _PID[0] = os.getpid()


os.register_at_fork(after_in_child=_renew_pid)


def _pid() -> int:
    return _PID[0]


_SUBMIT_CODES: dict[int, Any] = {}  # answer code → its SUBMITS child (labels() costs ~1 µs a call)


def count_submit(code: int) -> None:
    """One Submit answered with ``code`` (``hongyan_submits_total``)."""
    child = _SUBMIT_CODES.get(code)
    if child is None:
        child = _SUBMIT_CODES[code] = SUBMITS.labels(str(code))
    child.inc()


def multiprocess_dir() -> Path | None:
    """The multiprocess directory this process writes to, if any."""
    value = os.environ.get(_MULTIPROC_ENV)
    return Path(value) if value else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # gone, or a number no pid can be
        return False
    except PermissionError:
        return True
    return True


def clean_dead(path: Path) -> int:
    """Remove the files of processes no longer running (a previous run's); returns how many."""
    removed = 0
    for f in path.glob("*.db"):
        pid = f.stem.rpartition("_")[2]
        if pid.isdigit() and not _pid_alive(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                f.unlink()
                removed += 1
    return removed


def forget_dead_live_gauges(path: Path) -> int:
    """Drop the live gauges (window, in flight, channels up) of processes that died without :func:`process_exit`
    (SIGKILL, OOM: a uvicorn worker the supervisor replaced, a killed ``hongyan worker``), so a scrape does not
    count a dead process's window; their counters and histograms stay (what happened, happened). Returns how many
    processes were dropped."""
    dead = set()
    for f in path.glob("gauge_live*.db"):
        pid = f.stem.rpartition("_")[2]
        if pid.isdigit() and not _pid_alive(int(pid)):
            dead.add(int(pid))
    for pid in dead:
        with contextlib.suppress(OSError):
            mark_process_dead(pid, str(path))
    return len(dead)


def prepare_dir(path: Path) -> Path:
    """Create the directory and clean what dead processes left (called by the process that starts a run)."""
    path.mkdir(parents=True, exist_ok=True)
    clean_dead(path)
    return path


def enable_multiprocess(path: Path) -> None:
    """Write this process's metrics to ``path`` (idempotent). The environment variable is set too, so that
    processes started from here (uvicorn's workers) write there from their first metric."""
    path.mkdir(parents=True, exist_ok=True)
    current = multiprocess_dir()
    if current is not None and current.resolve() == path.resolve() and getattr(values.ValueClass, "_hongyan", False):
        return
    os.environ[_MULTIPROC_ENV] = str(path)
    # prometheus_client picks its value class at import; hongyan's metrics were made before this call, so
    # switch the class and make their values again (files keyed by this pid; a stale one is a dead pid's).
    if hasattr(values.ValueClass, "close_all_files"):
        values.ValueClass.close_all_files()
    values.ValueClass = values.MultiProcessValue(process_identifier=_pid)
    values.ValueClass._hongyan = True
    _SUBMIT_CODES.clear()
    for f in path.glob(f"*_{os.getpid()}.db"):
        f.unlink()
    for metric in [m for m in globals().values() if isinstance(m, MetricWrapperBase)]:
        if metric._labelnames:  # children are made (with the current value class) on first .labels()
            with metric._lock:
                metric._metrics.clear()
        else:
            metric._metric_init()


def process_exit() -> None:
    """A process in multiprocess mode stops: its live gauges no longer count."""
    path = multiprocess_dir()
    if path is not None:
        with contextlib.suppress(OSError):
            mark_process_dead(os.getpid(), str(path))


def render(extra: Iterable[Collector] = ()) -> bytes:
    """The exposition text: this process's metrics, or every process's in multiprocess mode, plus ``extra``
    collectors evaluated at scrape time (queue depths read from the database)."""
    path = multiprocess_dir()
    if path is None:
        registry = REGISTRY
        if not extra:
            return generate_latest(REGISTRY)
        registry = CollectorRegistry()
        registry.register(_Forward(REGISTRY))
    else:
        forget_dead_live_gauges(path)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, str(path))
    for collector in extra:
        registry.register(collector)
    return generate_latest(registry)


class _Forward(Collector):
    def __init__(self, inner: CollectorRegistry) -> None:
        self._inner = inner

    def collect(self):
        return self._inner.collect()


class _Snapshot(Collector):
    def __init__(self, families: list) -> None:
        self._families = families

    def collect(self):
        return self._families


def queue_depths(by_state: dict[str, int], pushes: int) -> Collector:
    """Gauges read from the database at scrape time (the same in every process, so not summed)."""
    from prometheus_client.core import GaugeMetricFamily

    open_ = GaugeMetricFamily(
        "hongyan_messages_open",
        "Messages per open state: accepted + queued is the dispatch queue, submitted awaits its receipt",
        labels=["state"],
    )
    for state, n in by_state.items():
        open_.add_metric([state], n)
    pending = GaugeMetricFamily("hongyan_pushes_pending", "Pushes waiting in the outbox", value=pushes)
    return _Snapshot([open_, pending])
