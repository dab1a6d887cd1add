"""``hongyan worker dispatch|push|all``: background processes for production (any number of each on
PostgreSQL; on SQLite one dispatcher)."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import typer

from hongyan.cli._common import console
from hongyan.loop import run

worker_app = typer.Typer(
    help="Background workers: dispatcher (store → channels → receipts) and pusher.", no_args_is_help=True
)


async def _run(dispatch: bool, push: bool) -> None:
    from hongyan.logs import setup_logging
    from hongyan.server.tuning import freeze_heap, tune_process
    from hongyan.services.platform import Platform
    from hongyan.settings import Settings
    from hongyan.workers.process import Workers

    tune_process()  # as `serve`: fewer young collections, and the group's COMMIT thread gets the GIL back quickly
    settings = Settings()
    setup_logging(settings.log_level, settings.log_json)
    if settings.metrics_dir is not None:  # beside `serve`: its /metrics then shows this process's metrics too
        from hongyan import metrics

        metrics.enable_multiprocess(settings.metrics_dir)  # `serve` cleans it when a run starts
    platform = await Platform.open(settings)
    workers = Workers(platform, dispatch=dispatch, push=push)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await workers.start()
    freeze_heap()  # start-up's objects leave the collector's generations
    watch = asyncio.create_task(_watch_parent(stop))  # `serve`'s worker child: stop if serve died
    console.print(f"worker running (dispatch={dispatch}, push={push}); SIGTERM finishes in-flight work and stops")
    try:
        await stop.wait()
    finally:
        watch.cancel()
        await workers.stop()  # in-flight submits and pushes finish, outcomes are recorded
        await platform.close()
        from hongyan.metrics import process_exit

        process_exit()


async def _watch_parent(stop: asyncio.Event, every_s: float = 1.0) -> None:
    """Started by `serve` (server.worker_child): stop when that process is gone, as on SIGTERM."""
    from hongyan.server.worker_child import parent_gone, parent_pid_from_env

    parent = parent_pid_from_env()
    if parent is None:
        return
    while not parent_gone(parent):
        await asyncio.sleep(every_s)
    console.print("the serve process that started this worker is gone; stopping")
    stop.set()


@worker_app.command("dispatch")
def worker_dispatch() -> None:
    """Submit accepted messages through the channels and take in their receipts."""
    run(_run(dispatch=True, push=False))


@worker_app.command("push")
def worker_push() -> None:
    """Deliver receipt, reply and template pushes to customers' URLs."""
    run(_run(dispatch=False, push=True))


@worker_app.command("all")
def worker_all() -> None:
    """Both, in one process."""
    run(_run(dispatch=True, push=True))
