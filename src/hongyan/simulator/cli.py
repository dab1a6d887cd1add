"""Running the simulator as a process: ``run_simulator(...)`` and ``main(argv)``.

``main(["--port", "2775", "--control-port", "2776", ...])`` serves until SIGINT/SIGTERM;
``main(["mo", MOBILE, TEXT, "--control", "127.0.0.1:2776"])`` asks a running simulator to send an MO.
The Typer command ``hongyan simulator`` can call ``main`` or build a :class:`SimulatorConfig` itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from hongyan.simulator.control import ControlServer
from hongyan.simulator.mix import StatusMix
from hongyan.simulator.smsc import DEFAULT_PASSWORD, DEFAULT_SYSTEM_ID, Simulator


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    host: str = "127.0.0.1"
    port: int = 2775
    control_port: int | None = 2776  # None: no control port
    system_id: str = DEFAULT_SYSTEM_ID
    password: str = DEFAULT_PASSWORD
    status_mix: str = "DELIVRD:1.0"
    dlr_delay_s: float = 0.05
    max_tps: float | None = None
    resp_delay_s: float = 0.0
    seed: int | None = None
    id_format: str = "hex"
    window: int = 10


def _mix(value: str) -> str:
    try:
        StatusMix.parse(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hongyan simulator", description="Built-in SMPP 3.4 SMSC simulator")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=2775)
    p.add_argument("--control-port", type=int, default=2776, help="HTTP control port; -1 disables it")
    p.add_argument("--system-id", default=DEFAULT_SYSTEM_ID)
    p.add_argument("--password", default=DEFAULT_PASSWORD)
    p.add_argument("--status-mix", type=_mix, default="DELIVRD:1.0", help="e.g. DELIVRD:0.95,UNDELIV:0.03,R:00702:0.02")
    p.add_argument("--dlr-delay", type=float, default=0.05, dest="dlr_delay_s", help="seconds before each receipt")
    p.add_argument("--max-tps", type=float, default=None, help="answer ESME_RTHROTTLED above this rate")
    p.add_argument("--resp-delay", type=float, default=0.0, dest="resp_delay_s", help="hold each submit_sm_resp")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--id-format", choices=("hex", "decimal"), default="hex")
    p.add_argument("--window", type=int, default=10, help="deliver_sm in flight per connection")
    return p


def parse_args(argv: Sequence[str] | None = None) -> SimulatorConfig:
    ns = build_parser().parse_args(argv)
    values = vars(ns)
    if values["control_port"] is not None and values["control_port"] < 0:
        values["control_port"] = None
    return SimulatorConfig(**values)


async def run_simulator(
    config: SimulatorConfig | None = None,
    *,
    ready: Callable[[Simulator, ControlServer | None], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until ``stop`` is set (or the task is cancelled); ``ready`` is called once both ports listen."""
    cfg = config or SimulatorConfig()
    sim = Simulator(
        cfg.host,
        cfg.port,
        cfg.system_id,
        cfg.password,
        dlr_delay_s=cfg.dlr_delay_s,
        status_mix=cfg.status_mix,
        max_tps=cfg.max_tps,
        seed=cfg.seed,
        resp_delay_s=cfg.resp_delay_s,
        id_format=cfg.id_format,
        window=cfg.window,
    )
    control = ControlServer(sim, cfg.host, cfg.control_port) if cfg.control_port is not None else None
    await sim.start()
    try:
        if control is not None:
            await control.start()
        if ready is not None:
            ready(sim, control)
        await (stop or asyncio.Event()).wait()
    finally:
        if control is not None:
            await control.stop()
        await sim.stop()


def _serve(argv: Sequence[str]) -> int:
    cfg = parse_args(argv)

    def announce(sim: Simulator, control: ControlServer | None) -> None:
        info = {**asdict(cfg), "port": sim.port, "control_port": control.port if control else None}
        info["password"] = "***"
        print(json.dumps({"simulator": "listening", **info}), flush=True)

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        await run_simulator(cfg, ready=announce, stop=stop)

    try:
        import uvloop

        uvloop.run(_main())
    except ImportError:  # pragma: no cover - uvloop is not on every platform
        asyncio.run(_main())
    return 0


def send_mo_via_control(control: str, mobile: str, text: str, *, to: str | None = None, timeout: float = 5.0) -> dict:
    """POST /mo to a running simulator's control port (``host:port``); returns its JSON answer."""
    body: dict[str, str] = {"mobile": mobile, "text": text}
    if to:
        body["to"] = to
    request = urllib.request.Request(
        f"http://{control}/mo",
        data=json.dumps(body, ensure_ascii=False).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def _mo(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="hongyan simulator mo", description="send an MO message through a simulator")
    p.add_argument("mobile")
    p.add_argument("text")
    p.add_argument("--to", default=None, help="the service number the MO is addressed to")
    p.add_argument("--control", default="127.0.0.1:2776", help="host:port of the simulator's control port")
    ns = p.parse_args(argv)
    print(json.dumps(send_mo_via_control(ns.control, ns.mobile, ns.text, to=ns.to), ensure_ascii=False))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``hongyan simulator [options]`` serves; ``hongyan simulator mo MOBILE TEXT`` sends an MO."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "mo":
        return _mo(args[1:])
    if args and args[0] == "serve":
        args = args[1:]
    return _serve(args)
