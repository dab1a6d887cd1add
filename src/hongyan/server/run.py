"""Build and run the uvicorn server with the lenient protocol."""

from __future__ import annotations

import importlib.util

import uvicorn

from hongyan.server.lenient_http import LenientHttpToolsProtocol


def uvicorn_config(app, host: str, port: int, *, workers: int = 1, log_level: str = "warning") -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=LenientHttpToolsProtocol,
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        lifespan="on",
        access_log=False,
        server_header=False,
        date_header=True,
        log_level=log_level,
        workers=workers,
    )


def serve(app, host: str, port: int, **kw) -> None:
    uvicorn.Server(uvicorn_config(app, host, port, **kw)).run()


def serve_workers(host: str, port: int, workers: int, log_level: str = "warning") -> None:
    """Several API processes: each builds its own app from the environment's settings."""
    uvicorn.run(
        "hongyan.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        http=LenientHttpToolsProtocol,
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        access_log=False,
        server_header=False,
        log_level=log_level,
    )
