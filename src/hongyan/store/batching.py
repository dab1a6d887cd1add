"""Group commit for any kind of row: callers ``await put(item)`` and return once the batch holding their
item is committed; one transaction serves everything that queued up while the previous one ran."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


class GroupCommit(Generic[T]):
    def __init__(self, commit: Callable[[list[T]], Awaitable[None]], *, name: str, batch_max: int = 1000) -> None:
        self._commit = commit
        self._name = name
        self._batch_max = batch_max
        self._queue: asyncio.Queue[tuple[T, asyncio.Future[None]] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        if self._task is not None:
            await self._queue.put(None)
            await self._task
            self._task = None

    async def put(self, item: T) -> None:
        if self._task is None:
            raise RuntimeError(f"{self._name} is not running")
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((item, fut))
        await asyncio.shield(fut)

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            first = await self._queue.get()
            batch: list[tuple[T, asyncio.Future[None]]] = []
            if first is None:
                stopping = True
            else:
                batch.append(first)
            while len(batch) < self._batch_max and not self._queue.empty():
                nxt = self._queue.get_nowait()
                if nxt is None:
                    stopping = True
                else:
                    batch.append(nxt)
            if not batch:
                continue
            try:
                await self._commit([item for item, _ in batch])
            except Exception as exc:
                log.exception("%s: commit of %d failed", self._name, len(batch))
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                        fut.exception()
                continue
            self.batches += 1
            for _, fut in batch:
                if not fut.done():
                    fut.set_result(None)
