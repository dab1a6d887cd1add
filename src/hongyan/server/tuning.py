"""Interpreter settings for a server or ``hongyan worker`` process: what a request or a message allocates dies young,
so collect less often, and let the threads beside the event loop (the SQLite committer, the delivery group's COMMIT
thread, the counters) get the GIL back quickly: they hold SQLite's write lock while they wait for it.

- ``gc.freeze()`` once start-up is done: the modules, the app and the platform (hundreds of thousands of objects)
  move out of the collector's generations, so the occasional full collection no longer walks them (it showed as
  pauses of several ms in the Submit p99).
- A young generation of 20,000 allocations instead of 700: a Submit allocates a few hundred short-lived objects.
- ``sys.setswitchinterval(0.0001)``: the committer thread waits for the GIL after every sqlite3 call (each
  releases it), with SQLite's write lock held; at the default 5 ms the event loop kept it that long, and a batch
  commit took several such waits. 0.5 ms → 0.1 ms, measured in alternated pairs on one day: Submit (one process)
  5,709/7,392/6,909 → 7,333/8,815/7,384 /s; `make run` end to end 2,224/2,790/2,537/2,474 → 2,355/3,064/3,019/
  2,566 msg/s; two API processes 5,432/5,318 → 5,120/6,618 (no clear difference).
"""

from __future__ import annotations

import gc
import sys

SWITCH_INTERVAL_S = 0.0001
GC_THRESHOLDS = (20_000, 20, 20)


def tune_process() -> None:
    """Set the GC thresholds and the GIL switch interval of this process."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    gc.set_threshold(*GC_THRESHOLDS)


def freeze_heap(*, collect: bool = True) -> None:
    """Move every object alive now into the permanent generation, after one full collection unless ``collect``
    is False (then start-up is not delayed, and what garbage there is stays frozen: a few KB)."""
    if collect:
        gc.collect()
    gc.freeze()
