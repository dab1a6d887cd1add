"""store.writelock: the flock queue in front of SQLite's write lock, within a process and across processes."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from hongyan.store.writelock import WriteLock, lock_path

HOLDER = """
import sys, time
from hongyan.store.writelock import WriteLock
lock = WriteLock(sys.argv[1])
lock.acquire()
print("held", flush=True)
time.sleep(60)
"""


def test_two_locks_on_one_file_exclude_each_other(tmp_path) -> None:
    db = str(tmp_path / "a.db")
    a, b = WriteLock(db), WriteLock(db)
    try:
        assert a.try_acquire()
        assert not b.try_acquire()
        a.release()
        assert b.try_acquire()
        assert not a.try_acquire()
        b.release()
        assert lock_path(db) == db + "-writelock"
        assert (tmp_path / "a.db-writelock").exists()
    finally:
        a.close()
        b.close()


def test_a_waiter_wakes_when_the_holder_lets_go(tmp_path) -> None:
    db = str(tmp_path / "a.db")
    holder, waiter = WriteLock(db), WriteLock(db)
    order: list[str] = []
    holder.acquire()

    def wait() -> None:
        with waiter:
            order.append("waiter")

    t = threading.Thread(target=wait)
    t.start()
    time.sleep(0.1)
    order.append("holder")
    holder.release()
    t.join(5)
    assert order == ["holder", "waiter"]
    assert waiter.waits == 1 and not waiter.held
    holder.close()
    waiter.close()


def test_another_process_holds_it_until_it_dies(tmp_path) -> None:
    db = str(tmp_path / "a.db")
    child = subprocess.Popen([sys.executable, "-c", HOLDER, db], stdout=subprocess.PIPE, text=True)
    lock = WriteLock(db)
    try:
        assert child.stdout.readline().strip() == "held"
        assert not lock.try_acquire()
        child.kill()
        child.wait(10)
        deadline = time.monotonic() + 5
        while not lock.try_acquire():  # the kernel lets go of a dead process's locks with its files
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        lock.close()


def test_release_and_close_are_idempotent(tmp_path) -> None:
    lock = WriteLock(str(tmp_path / "a.db"))
    lock.release()  # never taken
    lock.acquire()
    lock.close()
    lock.close()
    again = WriteLock(str(tmp_path / "a.db"))
    assert again.try_acquire()  # close let go
    again.close()
