"""``hongyan channel …``: SMPP channels, stored in the database and picked up by running workers."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from hongyan.cli._common import console, emit, run
from hongyan.services import channels as svc

channel_app = typer.Typer(help="Channels (SMPP accounts at carriers or the simulator).", no_args_is_help=True)


@channel_app.command("add")
def channel_add(
    name: str,
    smpp: Annotated[str, typer.Option("--smpp", help="HOST:PORT of the SMSC")],
    system_id: Annotated[str, typer.Option(help="SMPP system_id")],
    password: Annotated[str, typer.Option(help="SMPP password (≤ 8 ASCII characters)")],
    tps: Annotated[int, typer.Option(help="Submits per second")] = 200,
    window: Annotated[int, typer.Option(help="submit_sm in flight")] = 50,
    carriers: Annotated[
        str, typer.Option(help="Comma-separated carriers served")
    ] = "mobile,unicom,telecom,broadnet,virtual",
    priority: Annotated[str, typer.Option(help="primary | backup")] = "primary",
    group: Annotated[str, typer.Option(help="Channel group")] = "default",
    weight: Annotated[
        int, typer.Option(help="Share among channels of the same group, carrier and priority (round-robin)")
    ] = 1,
    source_addr: Annotated[str, typer.Option(help="Source address (sender number)")] = "",
) -> None:
    """Add a channel; running workers pick it up within seconds."""
    channel_id = run(
        lambda p: svc.add_channel(
            p,
            name,
            smpp,
            password=password,
            system_id=system_id,
            tps=tps,
            window=window,
            carriers=carriers,
            priority=priority,
            group_name=group,
            weight=weight,
            source_addr=source_addr,
        )
    )
    console.print(f"channel {name} added (id {channel_id})")


@channel_app.command("set")
def channel_set(
    name: str,
    smpp: Annotated[str | None, typer.Option("--smpp")] = None,
    password: Annotated[str | None, typer.Option()] = None,
    tps: Annotated[int | None, typer.Option()] = None,
    window: Annotated[int | None, typer.Option()] = None,
    carriers: Annotated[str | None, typer.Option()] = None,
    priority: Annotated[str | None, typer.Option()] = None,
    group: Annotated[str | None, typer.Option(help="Channel group")] = None,
    weight: Annotated[int | None, typer.Option()] = None,
    enabled: Annotated[bool | None, typer.Option("--enabled/--disabled")] = None,
) -> None:
    """Change a channel; options not given stay as they are."""
    run(
        lambda p: svc.set_channel(
            p,
            name,
            endpoint=smpp,
            password=password,
            tps=tps,
            window=window,
            carriers=carriers,
            priority=priority,
            group_name=group,
            weight=weight,
            enabled=enabled,
        )
    )
    console.print(f"channel {name} updated")


@channel_app.command("remove")
def channel_remove(name: str) -> None:
    run(lambda p: svc.remove_channel(p, name))
    console.print(f"channel {name} removed")


@channel_app.command("list")
def channel_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    rows = run(svc.list_channels)
    if as_json:
        emit(rows, True)
        return
    table = Table("name", "smpp", "system_id", "tps", "window", "carriers", "priority", "group", "weight", "enabled")
    for r in rows:
        table.add_row(
            r["name"],
            r["smpp"],
            r["system_id"],
            str(r["tps"]),
            str(r["window"]),
            r["carriers"],
            r["priority"],
            r["group"],
            str(r["weight"]),
            "yes" if r["enabled"] else "no",
        )
    console.print(table)
