"""server.worker_child: the supervisor of `serve`'s worker process, with stand-in children."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from hongyan.server.worker_child import PARENT_ENV, WorkerChild, parent_gone, parent_pid_from_env, worker_argv


def _wait(cond, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_a_child_that_exits_is_started_again_until_stopped() -> None:
    child = WorkerChild(dict(os.environ), argv=[sys.executable, "-c", "raise SystemExit(3)"], backoff_s=(0.05, 0.1))
    child.start()
    _wait(lambda: child.starts >= 3)
    child.stop()
    starts = child.starts
    time.sleep(0.3)
    assert child.starts == starts  # nothing started after stop
    assert child.exits[:2] == [3, 3]


def test_stop_terminates_and_reports_the_status() -> None:
    child = WorkerChild(dict(os.environ), argv=[sys.executable, "-c", "import time; time.sleep(60)"])
    child.start()
    pid = child.proc.pid
    assert child.stop() == -15  # SIGTERM
    assert child.starts == 1 and child.exits == []
    assert subprocess.run(["kill", "-0", str(pid)], capture_output=True).returncode != 0


def test_a_child_ignoring_sigterm_is_killed_after_the_timeout() -> None:
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    child = WorkerChild(dict(os.environ), argv=[sys.executable, "-c", code], stop_timeout_s=0.5)
    child.start()
    time.sleep(0.5)  # let it install the handler
    t = time.monotonic()
    assert child.stop() == -9
    assert 0.4 < time.monotonic() - t < 5


def test_the_child_knows_its_parent() -> None:
    code = f"import os; print(os.environ['{PARENT_ENV}'])"
    out = subprocess.run(
        [sys.executable, "-c", code], env=WorkerChild(dict(os.environ)).env, capture_output=True, text=True
    )
    assert out.stdout.strip() == str(os.getpid())
    assert not parent_gone(os.getppid()) and parent_gone(os.getppid() + 1_000_000)
    assert not parent_gone(None)
    assert worker_argv()[-2:] == ["worker", "all"]


def test_parent_pid_from_env(monkeypatch) -> None:
    monkeypatch.setenv(PARENT_ENV, "1234")
    assert parent_pid_from_env() == 1234
    monkeypatch.setenv(PARENT_ENV, "x")
    assert parent_pid_from_env() is None
    monkeypatch.delenv(PARENT_ENV)
    assert parent_pid_from_env() is None


def test_only_a_database_another_process_can_open_gets_a_worker_child() -> None:
    from hongyan.cli.main import _database_file_or_server

    assert _database_file_or_server("sqlite+aiosqlite:///./var/hongyan.db")
    assert _database_file_or_server("postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    for memory in ("sqlite+aiosqlite://", "sqlite+aiosqlite:///:memory:", "sqlite://"):
        assert not _database_file_or_server(memory)
