"""Fixtures for the SMPP layer: a simulator on a random port, clients bound to it, polling with a deadline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from hongyan.simulator import Simulator
from hongyan.smpp import DeliverEvent, SmppClient

SYSTEM_ID = "tester"
PASSWORD = "secret"


async def until(condition: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.002)


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    sim = Simulator("127.0.0.1", 0, SYSTEM_ID, PASSWORD, dlr_delay_s=0.01, seed=7)
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


class Inbox:
    """Collects DeliverEvents from a client."""

    def __init__(self) -> None:
        self.events: list[DeliverEvent] = []

    def __call__(self, event: DeliverEvent) -> None:
        self.events.append(event)

    @property
    def receipts(self) -> list[Any]:
        return [e.receipt for e in self.events if e.receipt is not None]

    @property
    def mo(self) -> list[Any]:
        return [e.mo for e in self.events if e.mo is not None]


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


ClientFactory = Callable[..., Awaitable[SmppClient]]


@pytest.fixture
async def make_client() -> AsyncIterator[ClientFactory]:
    """``await make_client(port, **options)``: a started client (bound unless ``wait=False``), closed afterwards."""
    clients: list[SmppClient] = []

    async def factory(port: int, *, wait: bool = True, **options: Any) -> SmppClient:
        options.setdefault("system_id", SYSTEM_ID)
        options.setdefault("password", PASSWORD)
        options.setdefault("reconnect_min_s", 0.02)
        client = SmppClient("127.0.0.1", port, **options)
        clients.append(client)
        await client.start()
        if wait:
            assert await client.wait_bound(5), f"not bound: {client.last_error!r}"
        return client

    try:
        yield factory
    finally:
        for client in clients:
            await client.close(timeout=1.0)
