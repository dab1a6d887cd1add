"""One queue for SQLite's write lock across processes: an advisory ``flock`` on ``<database>-writelock``.

SQLite has one write lock per file and no queue for it: a writer that finds it taken sleeps in the busy handler
and tries again (``store.db.begin_immediate`` polls every ~3 ms). With two processes writing in turns (two API
processes, or the API and ``hongyan worker``), each handover lost up to a poll step and the waiting process's event
loop sat idle meanwhile: two API processes accepted no more than one.

So the batch writers (the accept path's committer, the delivery transaction group, the SQLite counters) take
this lock first and SQLite's second. A waiter blocks in the kernel (``flock`` lets the GIL go) and wakes the
moment the holder lets go. Every cooperating writer takes the two locks in the same order, and the writers that
do not take this one (the admin and console writes through the async engine) only ever wait for SQLite's own,
so they cannot deadlock with them: SQLite's lock stays the authority, this one only orders the queue.

The lock belongs to the open file, so each ``WriteLock`` opens its own: two in one process exclude each other as
two in different processes do. A process that dies lets go of it with its files. ``flock`` has no timeout; a
holder keeps it for one transaction only.
"""

from __future__ import annotations

import os
import threading

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: SQLite's busy handler alone orders the writers
    fcntl = None  # type: ignore[assignment]

__all__ = ["WriteLock", "lock_path"]


def lock_path(database: str) -> str:
    """The lock file beside a SQLite database file."""
    return f"{database}-writelock"


class WriteLock:
    """An exclusive ``flock`` on a SQLite file's lock file, opened on first use.

    ``acquire`` blocks (call it on a thread, never on the event loop); ``try_acquire`` never blocks. Not
    re-entrant, and one holder at a time per instance.
    """

    def __init__(self, database: str) -> None:
        self.path = lock_path(database)
        self._fd: int | None = None
        self._open_lock = threading.Lock()
        self.held = False
        self.waits = 0  # acquisitions that found the lock taken

    def _file(self) -> int:
        if self._fd is None:
            with self._open_lock:
                if self._fd is None:
                    self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        return self._fd

    def try_acquire(self) -> bool:
        """Take the lock if it is free; False, at once, if another holder has it."""
        if fcntl is None:
            self.held = True
            return True
        try:
            fcntl.flock(self._file(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        self.held = True
        return True

    def acquire(self) -> None:
        """Take the lock, waiting in the kernel for its holder to let go."""
        if self.try_acquire():
            return
        self.waits += 1
        fcntl.flock(self._file(), fcntl.LOCK_EX)
        self.held = True

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        if fcntl is not None and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        self.release()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> WriteLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
