"""The demo account of ``make run``: live, approved signature, 10,000 segments; reused across runs."""

from __future__ import annotations

import contextlib
import ctypes
import signal
import socket
import subprocess
import sys
import time

from hongyan.services import accounts as svc
from hongyan.services.platform import Platform
from hongyan.store import accounts as store

DEMO_NAME = "demo"
DEMO_SIGNATURE = "鸿雁"
DEMO_BALANCE = 10_000


async def ensure_demo(platform: Platform) -> svc.Credentials:
    async with platform.engines.read.connect() as conn:
        row = await store.find_by_name(conn, DEMO_NAME)
    if row is not None:
        return svc.Credentials(row.api_id, platform.keybox.decrypt(row.apikey_enc))
    creds = await svc.create_account(platform, DEMO_NAME, balance=DEMO_BALANCE, live=True)
    await svc.add_signature(platform, creds.account, DEMO_SIGNATURE, approve=True)
    return creds


SIM_SYSTEM_ID = "hongyan"
SIM_PASSWORD = "hongyan"


class DemoSimulators:
    """Two `hongyan simulator` processes on free ports, configured as the channels sim-primary/sim-backup."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []
        self.ports: list[int] = []
        self.controls: list[int] = []

    def start(self) -> None:
        for _ in range(2):
            port, control = _free_port(), _free_port()
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "hongyan.simulator",
                    "--port",
                    str(port),
                    "--control-port",
                    str(control),
                    "--system-id",
                    SIM_SYSTEM_ID,
                    "--password",
                    SIM_PASSWORD,
                    "--status-mix",
                    "DELIVRD:0.95,UNDELIV:0.03,R:00702:0.02",
                ],
                stdout=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )
            self.procs.append(proc)
            self.ports.append(port)
            self.controls.append(control)
        deadline = time.monotonic() + 20
        for port, proc in zip(self.ports, self.procs, strict=True):
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        self.stop()
                        raise RuntimeError("the SMSC simulator did not start") from None
                    time.sleep(0.05)

    async def configure(self, platform: Platform) -> None:
        from hongyan.services import channels
        from hongyan.store.accounts import NotFound

        for name, port, priority in (
            ("sim-primary", self.ports[0], "primary"),
            ("sim-backup", self.ports[1], "backup"),
        ):
            try:
                await channels.set_channel(platform, name, endpoint=f"127.0.0.1:{port}", priority=priority)
            except NotFound:
                await channels.add_channel(
                    platform,
                    name,
                    f"127.0.0.1:{port}",
                    password=SIM_PASSWORD,
                    system_id=SIM_SYSTEM_ID,
                    priority=priority,
                    tps=2000,
                    window=100,
                )

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()


def _die_with_parent() -> None:
    # uvicorn re-raises SIGTERM after its shutdown, so `finally` may never run in the demo process: let the
    # kernel stop the simulators when their parent goes (Linux; elsewhere stop() is the only way).
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start_simulators() -> DemoSimulators:
    sims = DemoSimulators()
    sims.start()
    return sims


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def curl_line(base_url: str, creds: svc.Credentials) -> str:
    return (
        f"curl -s '{base_url}/webservice/sms.php?method=Submit' "
        f"--data-urlencode account={creds.account} --data-urlencode password={creds.apikey} "
        "--data-urlencode mobile=13800138000 "
        f"--data-urlencode 'content=【{DEMO_SIGNATURE}】您的验证码是：1234。请不要把验证码泄露给其他人。'"
    )
