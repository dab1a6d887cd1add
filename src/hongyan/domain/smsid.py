"""smsid: a 20-digit decimal id, sortable by time and never reused, also across processes and restarts.

Layout: 13 digits of Unix milliseconds, 3 digits of node (each process claims a fresh node number from
the database at start, so two live processes never share one), 4 digits of sequence within the
millisecond. When a millisecond's 10,000 ids are used up, or the clock steps back, the generator borrows
the next millisecond instead of repeating, so ids only grow within a process.
"""

from __future__ import annotations

import threading
import time

NODE_SPACE = 1000
SEQ_SPACE = 10_000


class SmsIdGenerator:
    def __init__(self, node: int, clock=time.time) -> None:
        if not 0 <= node < NODE_SPACE:
            raise ValueError("node must be 0..999")
        self.node = node
        self._clock = clock
        self._last_ms = 0
        self._seq = 0
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            ms = int(self._clock() * 1000)
            if ms > self._last_ms:
                self._last_ms, self._seq = ms, 0
            else:
                self._seq += 1
                if self._seq >= SEQ_SPACE:
                    self._last_ms, self._seq = self._last_ms + 1, 0
            return f"{self._last_ms:013d}{self.node:03d}{self._seq:04d}"
