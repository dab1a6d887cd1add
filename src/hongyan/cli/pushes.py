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


webhook_app = typer.Typer(
    help="Signed JSON webhooks (Standard Webhooks) for REST v2 users: set, rotate the secret, show, remove.",
    no_args_is_help=True,
)


@webhook_app.command("set")
def webhook_set(
    account: str,
    url: Annotated[str, typer.Option("--url", help="Where the signed JSON pushes go")],
    events: Annotated[
        str | None,
        typer.Option(help="Comma-separated: message.delivered,message.failed,reply.received,template.reviewed"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create or change the account's webhook; a new one prints its secret (once: keep it)."""
    emit(run(lambda p: svc.set_webhook(p, account, url=url, events=events)), as_json)


@webhook_app.command("rotate")
def webhook_rotate(
    account: str,
    grace_hours: Annotated[float, typer.Option(help="The old secret keeps signing beside the new one this long")] = 24,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A new secret, printed once; pushes carry both signatures during the grace period."""
    secret = run(lambda p: svc.rotate_webhook_secret(p, account, grace_s=int(grace_hours * 3600)))
    emit({"account": account, "secret": secret}, as_json)


@webhook_app.command("show")
def webhook_show(
    account: str,
    reveal: Annotated[bool, typer.Option("--reveal", help="Also print the current secret")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    emit(run(lambda p: svc.get_webhook(p, account, reveal=reveal)), as_json)


@webhook_app.command("remove")
def webhook_remove(account: str) -> None:
    """Stop the signed pushes (pending ones are dead-lettered when their turn comes)."""
    removed = run(lambda p: svc.remove_webhook(p, account))
    console.print("webhook removed" if removed else "no webhook")
