"""The built-in SMSC simulator: a real SMPP 3.4 server for development, tests and benchmarks."""

from hongyan.simulator.cli import SimulatorConfig, build_parser, main, parse_args, run_simulator, send_mo_via_control
from hongyan.simulator.control import ControlServer
from hongyan.simulator.mix import StatusMix
from hongyan.simulator.smsc import ReceivedPart, Simulator, SimulatorStats

__all__ = [
    "ControlServer",
    "ReceivedPart",
    "Simulator",
    "SimulatorConfig",
    "SimulatorStats",
    "StatusMix",
    "build_parser",
    "main",
    "parse_args",
    "run_simulator",
    "send_mo_via_control",
]
