"""``hongyan push …``: the receipt/reply/template push outbox."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from hongyan.cli._common import console, emit, run
from hongyan.services import pushes as svc

push_app = typer.Typer(help="Pushes to customers' URLs: list, dead letters, replay.", no_args_is_help=True)


@push_app.command("list")
def push_list(
    dead: Annotated[bool, typer.Option("--dead", help="Only dead letters")] = False,
    account: Annotated[str | None, typer.Option("--account")] = None,
    limit: Annotated[int, typer.Option()] = 100,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    rows = run(lambda p: svc.list_pushes(p, state="dead" if dead else None, api_id=account, limit=limit))
    if as_json:
        emit(rows, True)
        return
    table = Table("id", "kind", "ref", "state", "attempts", "url", "last error")
    for r in rows:
        table.add_row(
            str(r["id"]), r["kind"], r["ref"], r["state"], str(r["attempts"]), r["url"], (r["last_error"] or "")[:60]
        )
    console.print(table)


@push_app.command("replay")
def push_replay(
    account: Annotated[str | None, typer.Option("--account")] = None,
    since: Annotated[str | None, typer.Option(help="Only pushes created since (date, ISO time, Unix s)")] = None,
) -> None:
    """Send dead-lettered pushes again."""
    n = run(lambda p: svc.replay(p, api_id=account, since=since))
    console.print(f"{n} pushes queued again")
