"""``hongyan delivery …``: what delivery kept aside for the operator (unparsed deliveries, unmatched receipts)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from hongyan.cli._common import console, emit, run
from hongyan.services import delivery_admin as svc

delivery_app = typer.Typer(help="Delivery: deliveries and receipts kept for the operator.", no_args_is_help=True)


@delivery_app.command("unparsed")
def delivery_unparsed(
    limit: Annotated[int, typer.Option(help="Newest N")] = 100,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """deliver_sm / data_sm that could not be understood (acknowledged, kept raw), newest first."""
    rows = run(lambda p: svc.list_unparsed(p, limit))
    if as_json:
        emit(rows, True)
        return
    table = Table("id", "received", "channel", "command", "from", "to", "esm", "dcs", "payload (hex)", "reason")
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["received"],
            r["channel"],
            r["command"],
            r["source_addr"],
            r["destination_addr"],
            str(r["esm_class"]),
            str(r["data_coding"]),
            r["payload_hex"][:40],
            r["reason"],
        )
    console.print(table)
    console.print(f"{len(rows)} shown")


@delivery_app.command("pending-receipts")
def delivery_pending_receipts(
    limit: Annotated[int, typer.Option(help="Oldest N")] = 100,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Receipts (DLRs) for carrier ids no recorded submit has yet, oldest first; applied when the submit shows up."""
    rows = run(lambda p: svc.list_pending_receipts(p, limit))
    if as_json:
        emit(rows, True)
        return
    table = Table("id", "received", "channel", "carrier id", "also as", "stat", "err")
    for r in rows:
        alts = ", ".join(a for a in (r["carrier_msg_id_alt1"], r["carrier_msg_id_alt2"]) if a)
        table.add_row(str(r["id"]), r["received"], r["channel"], r["carrier_msg_id"], alts, r["stat"], r["err"] or "")
    console.print(table)
    console.print(f"{len(rows)} shown")
