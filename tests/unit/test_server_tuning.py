"""A server process's interpreter settings (``hongyan.server.tuning``), checked in a fresh interpreter so the
test process keeps its own."""

from __future__ import annotations

import json
import subprocess
import sys

from hongyan.server.tuning import GC_THRESHOLDS, SWITCH_INTERVAL_S

PROBE = """
import gc, json, sys
from hongyan.server.tuning import freeze_heap, tune_process
before = gc.get_freeze_count()
tune_process()
freeze_heap()
print(json.dumps([sys.getswitchinterval(), gc.get_threshold(), before, gc.get_freeze_count()]))
"""


def test_tuned_process_collects_less_and_switches_threads_sooner() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60)
    interval, thresholds, frozen_before, frozen_after = json.loads(out.stdout)
    assert interval == SWITCH_INTERVAL_S < 0.005  # the default is 5 ms
    assert tuple(thresholds) == GC_THRESHOLDS and GC_THRESHOLDS[0] > 700
    assert frozen_before == 0 and frozen_after > 1000  # the imported modules are out of the collector's way
