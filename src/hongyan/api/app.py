"""``create_app(settings)``: the ASGI application. Nothing is opened at import time."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.requests import Request
from starlette.responses import Response

from hongyan import __version__
from hongyan.api import compat_ihuyi, v2
from hongyan.domain import codes
from hongyan.services.platform import Platform
from hongyan.settings import Settings

COMPAT_PATHS = ("/webservice/sms.php",)
INTERNATIONAL_PATHS = ("/webservice/isms.php",)


class HongyanApp(FastAPI):
    """FastAPI with the ihuyi endpoints answered before its middleware stack.

    The compat paths are served by a bare ASGI handler (``compat_ihuyi.handle``, which answers every error
    itself); skipping Starlette's error and telemetry middleware saves a few per cent on the hot path.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.compat_paths: dict[str, bool] = {}  # path → international

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "POST"):
            international = self.compat_paths.get(scope["path"])
            if international is not None:
                scope["app"] = self
                await compat_ihuyi.handle(scope, receive, send, international=international)
                return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None, *, platform: Platform | None = None) -> HongyanApp:
    """Build the app; it opens its Platform on startup (migrating the database) unless one is given."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        own = platform is None
        if own:  # a server process: several of them share one metrics directory (`serve --workers N`)
            from hongyan import metrics

            shared = settings.metrics_dir or metrics.multiprocess_dir()
            if shared is not None:
                metrics.enable_multiprocess(shared)
        app.state.platform = platform or await Platform.open(settings)
        workers = None
        if own and settings.embedded_workers:
            from hongyan.workers.process import Workers

            workers = Workers(app.state.platform)
            await workers.start()
            app.state.workers = workers
        try:
            yield
        finally:
            if workers is not None:
                await workers.stop()
            if own:
                await app.state.platform.close()
                from hongyan.metrics import process_exit

                process_exit()

    app = HongyanApp(
        title="hongyan",
        version=__version__,
        description="Self-hostable SMS platform, drop-in compatible with the ihuyi HTTP API.",
        lifespan=lifespan,
    )
    app.compat_paths = {p: False for p in COMPAT_PATHS} | {p: True for p in INTERNATIONAL_PATHS}
    if platform is not None:
        app.state.platform = platform
    app.include_router(v2.router)
    app.add_exception_handler(v2.AuthFailed, v2.auth_failed_handler)

    from hongyan.console import mount as mount_console

    mount_console(app)  # the web console under /console

    @app.exception_handler(RequestValidationError)
    async def bad_json(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            {
                "code": codes.FAILED,
                "msg": "请求格式不正确",
                "smsid": "0",
                "segments": 0,
                "errors": [{"loc": e["loc"], "msg": e["msg"]} for e in exc.errors()],
            },
            status_code=422,
        )

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        """Database reachable, Redis reachable when configured, and (with workers here) a channel bound."""
        from sqlalchemy import text

        p: Platform = request.app.state.platform
        checks: dict[str, str] = {}
        try:
            async with p.engines.read.connect() as conn:
                await conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"error: {type(exc).__name__}"
        if p.settings.redis_url:
            try:
                await p.counters._redis.ping()  # type: ignore[attr-defined]
                checks["redis"] = "ok"
            except Exception as exc:
                checks["redis"] = f"error: {type(exc).__name__}"
        if p.settings.readyz_require_channel:
            checks["channels"] = await _channels_check(p, getattr(request.app.state, "workers", None))
        ready = all(not v.startswith("error") for v in checks.values())
        return JSONResponse({"ready": ready, **checks}, status_code=200 if ready else 503)

    async def _channels_check(p: Platform, workers) -> str:
        """A channel bound: this process's own channels when it runs delivery, else the fresh heartbeats of the
        processes that do (``channel_status``). With no channel enabled there is nothing to wait for."""
        from hongyan.services.channels import list_channels, live_status

        delivery = getattr(workers, "delivery", None)
        if delivery is not None:
            if not delivery.router.routes:
                return "none configured"
            up = sum(1 for r in delivery.router.routes if r.channel.available)
            return f"{up} available" if up else "error: no channel available"
        try:
            enabled = {c["name"] for c in await list_channels(p) if c["enabled"]}
            if not enabled:
                return "none configured"
            bound = sum(1 for name, st in (await live_status(p)).items() if name in enabled and st.bound)
        except Exception as exc:
            return f"error: {type(exc).__name__}"
        return f"{bound} bound" if bound else "error: no channel bound (per channel_status heartbeats)"

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        from hongyan.metrics import queue_depths, render
        from hongyan.store.queues import depths

        extra = []
        try:
            extra.append(queue_depths(*await depths(request.app.state.platform.engines.read)))
        except Exception:  # the process metrics are still worth serving without the database
            logging.getLogger(__name__).exception("queue depths for /metrics failed")
        return Response(render(extra), media_type="text/plain; version=0.0.4; charset=utf-8")

    return app
