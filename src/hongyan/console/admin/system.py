"""The admin home (queues waiting, today's numbers, the system chart), channels and carrier status codes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from hongyan.console.admin._common import flash
from hongyan.console.auth import platform_of
from hongyan.console.web import render
from hongyan.domain import carrier_status
from hongyan.domain.labels import STATE_LABELS
from hongyan.services import certification, reports, review
from hongyan.services.channels import list_channels

router = APIRouter()

CHART_MINUTES = 60


def _live_channels(request: Request) -> dict[str, dict[str, Any]] | None:
    """Bound state and submits in flight of the channels this process runs (``serve`` with embedded workers);
    None when delivery runs in another process (``hongyan worker``): then only the database view is shown."""
    workers = getattr(request.app.state, "workers", None)
    delivery = getattr(workers, "delivery", None)
    if delivery is None:
        return None
    live = {}
    for route in delivery.router.routes:
        client = getattr(route.channel, "_client", None)  # SmppChannel's ESME; other kinds may have none
        live[route.channel.name] = {
            "bound": bool(route.channel.available),
            "inflight": getattr(client, "inflight", None),
        }
    return live


@router.get("/")
async def admin_home(request: Request) -> Response:
    p = platform_of(request)
    return render(
        request,
        "admin/home.html",
        active="admin",
        section="home",
        today=(await reports.overview(p, None, days=1))["today"],
        pending_signatures=len(await review.signature_queue(p)),
        pending_templates=len(await review.template_queue(p)),
        pending_certifications=len(await certification.queue(p)),
        activity=await reports.delivery_activity(p),
        minutes=CHART_MINUTES,
        **flash(request),
    )


@router.get("/chart.json")
async def chart_data(request: Request, minutes: int = CHART_MINUTES) -> JSONResponse:
    """Messages per minute by state for the last ``minutes`` (1–1440), for the chart's refresh."""
    data = await reports.system_chart(platform_of(request), minutes=max(1, min(minutes, 1440)))
    data["names"] = {k: str(v) for k, v in STATE_LABELS.items()}
    return JSONResponse(data, headers={"Cache-Control": "no-store"})


@router.get("/channels")
async def channels_page(request: Request) -> Response:
    p = platform_of(request)
    activity = await reports.delivery_activity(p)
    live = _live_channels(request)
    rows = []
    for c in await list_channels(p):
        act = activity["channels"].get(c["name"], {"recent": 0, "awaiting": 0})
        state = (live or {}).get(c["name"])
        rows.append(
            c
            | {
                "recent": act["recent"],
                "tps_now": round(act["recent"] / activity["window_s"], 1),
                "awaiting": act["awaiting"],
                "bound": None if state is None else state["bound"],
                "inflight": None if state is None else state["inflight"],
            }
        )
    return render(
        request,
        "admin/channels.html",
        active="admin",
        section="channels",
        rows=rows,
        queue=activity["queue"],
        window_s=activity["window_s"],
        live=live is not None,
        **flash(request),
    )


@router.get("/status-codes")
async def status_codes(request: Request) -> Response:
    return render(
        request,
        "admin/status_codes.html",
        active="admin",
        section="codes",
        codes=carrier_status.table(),
        state_labels=STATE_LABELS,
    )
