"""The admin home (queues waiting, today's numbers, the system chart), channels and carrier status codes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from hongyan.console.admin._common import flash
from hongyan.console.auth import platform_of
from hongyan.console.web import render
from hongyan.domain import carrier_status
from hongyan.domain.labels import STATE_LABELS
from hongyan.services import certification, reports, review
from hongyan.services.channels import list_channels, live_status

router = APIRouter()

CHART_MINUTES = 60


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
    # Bound state and window use per the fresh heartbeats of the delivery processes (this one or others); a channel
    # without a fresh heartbeat is absent: unknown.
    live = await live_status(p)
    rows = []
    for c in await list_channels(p):
        act = activity["channels"].get(c["name"], {"recent": 0, "awaiting": 0})
        state = live.get(c["name"])
        rows.append(
            c
            | {
                "recent": act["recent"],
                "tps_now": round(act["recent"] / activity["window_s"], 1),
                "awaiting": act["awaiting"],
                "bound": None if state is None else state.bound,
                "inflight": None if state is None else state.inflight,
                "live_window": None if state is None else state.window,
                "throttled": state is not None and state.throttled,
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
        live=bool(live),
        stale_s=round(3 * p.settings.channel_heartbeat_s, 1),
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
