"""A process killed without `process_exit` leaves live-gauge files in the multiprocess directory: the next scrape
drops them (its window no longer counts) and keeps its counters. Real processes, each with its own metrics."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

WRITER = """
import os, sys, time
from pathlib import Path
from hongyan import metrics
metrics.enable_multiprocess(Path(sys.argv[1]))
metrics.CHANNEL_WINDOW.labels("sim").set(int(sys.argv[2]))
metrics.SUBMITS.labels("2").inc(int(sys.argv[2]))
print("ready", flush=True)
time.sleep(600)
"""

READER = """
import sys
from pathlib import Path
from hongyan import metrics
metrics.enable_multiprocess(Path(sys.argv[1]))
sys.stdout.write(metrics.render().decode())
"""


def _start(path: Path, value: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(value)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def _scrape(path: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", READER, str(path)], capture_output=True, text=True, check=True).stdout
    wanted = ('hongyan_channel_window{channel="sim"}', 'hongyan_submits_total{code="2"}')
    return {line.split(" ")[0]: float(line.split(" ")[1]) for line in out.splitlines() if line.startswith(wanted)}


def test_a_killed_process_window_stops_counting_its_counters_stay(tmp_path: Path) -> None:
    a, b = _start(tmp_path, 50), _start(tmp_path, 30)
    try:
        before = _scrape(tmp_path)
        assert before['hongyan_channel_window{channel="sim"}'] == 80
        assert before['hongyan_submits_total{code="2"}'] == 80
        a.send_signal(signal.SIGKILL)
        a.wait(10)
        after = _scrape(tmp_path)
        assert after['hongyan_channel_window{channel="sim"}'] == 30  # only the live process's window
        assert after['hongyan_submits_total{code="2"}'] == 80  # what the dead one counted stays
        assert not any(f.name.endswith(f"_{a.pid}.db") for f in tmp_path.glob("gauge_live*"))
        assert any(f.name.endswith(f"_{a.pid}.db") for f in tmp_path.glob("counter_*"))
    finally:
        for p in (a, b):
            if p.poll() is None:
                p.kill()
                p.wait(10)
