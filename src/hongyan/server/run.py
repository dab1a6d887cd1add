"""Build and run the uvicorn server with the lenient protocol."""

from __future__ import annotations

from typing import Any

import uvicorn

from hongyan.server.lenient_http import LenientHttpToolsProtocol
from hongyan.server.tuning import freeze_heap, tune_process


def _loop() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def _common(log_level: str) -> dict[str, Any]:
    return {
        "http": LenientHttpToolsProtocol,
        "loop": _loop(),
        "lifespan": "on",
        "access_log": False,
        "server_header": False,
        "date_header": True,
        "log_level": log_level,
    }


def uvicorn_config(
    app,
    host: str,
    port: int,
    *,
    workers: int = 1,
    log_level: str = "warning",
) -> uvicorn.Config:
    """A uvicorn Config serving ``app`` through :class:`LenientHttpToolsProtocol`."""
    return uvicorn.Config(app, host=host, port=port, workers=workers, **_common(log_level))


class TunedServer(uvicorn.Server):
    """``uvicorn.Server`` with the process tuned (``server.tuning``), the heap frozen once the app has started."""

    async def startup(self, sockets=None) -> None:
        tune_process()
        await super().startup(sockets=sockets)
        freeze_heap()


def serve(app, host: str, port: int, **kw) -> None:
    """Serve ``app`` in this process until interrupted (``kw``: see :func:`uvicorn_config`).

    ``uvicorn.Server`` runs one process whatever ``workers`` says; use :func:`serve_workers` for several.
    """
    TunedServer(uvicorn_config(app, host, port, **kw)).run()


def create_tuned_app():
    """The app factory of each process of :func:`serve_workers`: the process tuned, the heap frozen once built."""
    from hongyan.api.app import create_app

    tune_process()
    app = create_app()
    # No full collection here: the parent has bound the socket already, and a worker still collecting would
    # leave its siblings every connection for longer.
    freeze_heap(collect=False)
    return app


def serve_workers(host: str, port: int, workers: int, log_level: str = "warning") -> None:
    """Several API processes: each builds its own app from the environment's settings."""
    uvicorn.run(
        "hongyan.server.run:create_tuned_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        **_common(log_level),
    )
