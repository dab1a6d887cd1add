"""``hongyan serve``'s delivery side in a child process: ``hongyan worker all``, started, restarted and stopped by it.

One Python process uses one core at a time (the GIL). With the dispatcher, the receipt intake and the pusher in the
API process, accepting and delivering took turns on that core; in a process of their own they run on the other
one (``make bench``: the end-to-end layouts). So by default (``HONGYAN_WORKER_PROCESS=true``) ``serve`` runs them
in a child and supervises it:

* the child starts before the API listens, in a session of its own (a Ctrl-C in the terminal reaches ``serve``,
  which then stops the child itself, after the API);
* if it exits on its own it is started again, after 0.5 s, then 1, 2, 5, 10 and 30 s while it keeps failing within
  a minute of its start; every exit is logged with its status;
* ``stop`` sends SIGTERM (the worker finishes its in-flight submits and pushes and records their outcomes) and
  SIGKILL after ``stop_timeout_s``;
* the child watches its parent (``HONGYAN_PARENT_PID``) and stops if ``serve`` dies without stopping it.

The supervisor is a thread that sleeps in ``wait()``: no cost on the event loop.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

log = logging.getLogger(__name__)

BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
STABLE_S = 60.0  # a child that ran this long before exiting starts the backoff over
PARENT_ENV = "HONGYAN_PARENT_PID"


def worker_argv(role: str = "all") -> list[str]:
    return [sys.executable, "-m", "hongyan.cli.main", "worker", role]


class WorkerChild:
    """Runs ``argv`` as a supervised child process (see the module docstring)."""

    def __init__(
        self,
        env: dict[str, str],
        *,
        argv: Sequence[str] | None = None,
        backoff_s: Sequence[float] = BACKOFF_S,
        stop_timeout_s: float = 30.0,
    ) -> None:
        self.argv = list(argv or worker_argv())
        self.env = {**env, PARENT_ENV: str(os.getpid())}
        self.backoff_s = tuple(backoff_s)
        self.stop_timeout_s = stop_timeout_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.exits: list[int] = []  # the status of every exit not asked for by stop()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._spawn()
        self._thread = threading.Thread(target=self._supervise, name="hongyan-worker-child", daemon=True)
        self._thread.start()

    def _spawn(self) -> None:
        with self._lock:
            if self._stopping.is_set():
                return
            self.proc = subprocess.Popen(self.argv, env=self.env, start_new_session=True)
            self.starts += 1
        log.info("worker process started", extra={"pid": self.proc.pid, "argv": " ".join(self.argv[-2:])})

    def _supervise(self) -> None:
        failures = 0
        while True:
            proc = self.proc
            assert proc is not None
            started = time.monotonic()
            status = proc.wait()
            if self._stopping.is_set():
                return
            self.exits.append(status)
            failures = 0 if time.monotonic() - started >= STABLE_S else failures + 1
            delay = self.backoff_s[min(failures, len(self.backoff_s)) - 1] if failures else self.backoff_s[0]
            log.error(
                "worker process exited; starting it again",
                extra={"pid": proc.pid, "status": status, "restart_in_s": delay},
            )
            if self._stopping.wait(delay):
                return
            try:
                self._spawn()
            except OSError:
                log.exception("worker process could not be started")
                if self._stopping.wait(self.backoff_s[-1]):
                    return
                continue
            if self._stopping.is_set():
                return

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after ``stop_timeout_s``; returns the child's exit status (None if none ran)."""
        with self._lock:
            self._stopping.set()
            proc = self.proc
        status = None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(self.stop_timeout_s)
                except subprocess.TimeoutExpired:
                    log.error("worker process did not stop in time; killed", extra={"pid": proc.pid})
                    proc.kill()
                    proc.wait()
            status = proc.returncode
        if self._thread is not None:
            self._thread.join(10)
        return status


def parent_gone(parent_pid: int | None) -> bool:
    """Whether the process that started this one (``HONGYAN_PARENT_PID``) is no longer its parent."""
    return parent_pid is not None and os.getppid() != parent_pid


def parent_pid_from_env() -> int | None:
    value = os.environ.get(PARENT_ENV, "")
    return int(value) if value.isdigit() else None
