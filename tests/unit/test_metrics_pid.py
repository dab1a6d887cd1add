"""The multiprocess metric values take the pid hongyan remembers (no system call per inc): it is renewed in a forked
child, whose values then go to a file of its own; and the cached ``hongyan_submits_total`` children follow a switch
to multiprocess mode."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hongyan import metrics

CHILD = """
import os, sys
from pathlib import Path
from hongyan import metrics
metrics.count_submit(2)  # a child made before the switch must not keep counting in memory
metrics.enable_multiprocess(Path(sys.argv[1]))
for _ in range(3):
    metrics.count_submit(2)
metrics.count_submit(4051)
pid = os.fork()
if pid == 0:
    ok = metrics._pid() == os.getpid()
    metrics.count_submit(2)  # into the child's own file
    os._exit(0 if ok else 1)
_, status = os.waitpid(pid, 0)
print(status, pid, os.getpid(), flush=True)
sys.stdout.write(metrics.render().decode())
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
def test_counts_survive_the_switch_and_a_fork_writes_its_own_file(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    status, child, parent = out.splitlines()[0].split()
    assert status == "0"  # the forked child saw its own pid
    files = {p.name for p in tmp_path.glob("counter_*.db")}
    assert files == {f"counter_{parent}.db", f"counter_{child}.db"}
    assert 'hongyan_submits_total{code="2"} 4.0' in out  # 3 from the parent, 1 from its child
    assert 'hongyan_submits_total{code="4051"} 1.0' in out


def test_pid_is_this_process() -> None:
    assert metrics._pid() == os.getpid()
