"""``hongyan blacklist|words|limits|package …``: message policy and billing data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from hongyan.cli._common import console, emit, run
from hongyan.services import billing
from hongyan.services import policy as svc

blacklist_app = typer.Typer(
    help="Blacklists (4030): global, per account, 408 auto-list, unsubscribe.", no_args_is_help=True
)
words_app = typer.Typer(help="Sensitive words (407); running processes reload within a second.", no_args_is_help=True)
limits_app = typer.Typer(help="Per-account frequency limits (4082, 4085, 408).", no_args_is_help=True)
package_app = typer.Typer(help="Price packages and buying them.", no_args_is_help=True)

AccountOpt = Annotated[str | None, typer.Option("--account", help="API ID; without it, the global list")]
KindOpt = Annotated[str | None, typer.Option("--kind", help="global | account | auto408 | unsubscribe")]


@blacklist_app.command("add")
def blacklist_add(
    mobile: str,
    account: AccountOpt = None,
    reason: Annotated[str | None, typer.Option(help="Why (shown by list)")] = None,
    kind: KindOpt = None,
) -> None:
    """List a number: globally, or for one account (kind account unless --kind). Seen within a second."""
    added = run(lambda p: svc.blacklist_add(p, mobile, account, reason, kind))
    console.print(f"{mobile}: {'added' if added else 'already listed'}")


@blacklist_app.command("remove")
def blacklist_remove(
    mobile: str,
    account: AccountOpt = None,
    kind: Annotated[
        str | None, typer.Option(help="global | account | auto408 | unsubscribe (default: all of the account's)")
    ] = None,
) -> None:
    """Lift a number (e.g. one the 408 rule listed); running processes see it within a second."""
    n = run(lambda p: svc.blacklist_remove(p, mobile, account, kind))
    console.print(f"{mobile}: removed from {n} list(s)")


@blacklist_app.command("list")
def blacklist_list(
    account: Annotated[str | None, typer.Option("--account", help="API ID; without it, every list")] = None,
    kind: KindOpt = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    rows = run(lambda p: svc.blacklist_list(p, account, kind))
    if as_json:
        emit(rows, True)
        return
    table = Table("mobile", "kind", "account", "reason")
    for r in rows:
        table.add_row(r["mobile"], r["kind"], r["account"] or "(global)", r["reason"] or "")
    console.print(table)


@words_app.command("import")
def words_import(file: Path) -> None:
    """Import a UTF-8 file, one word a line (blank lines and # comments skipped)."""
    if not file.is_file():
        console.print(f"[red]error:[/red] no such file {file}")
        raise typer.Exit(1)
    added, read = run(lambda p: svc.words_import(p, file))
    console.print(f"{added} words added ({read} read, {read - added} already listed)")


@words_app.command("add")
def words_add(words: list[str]) -> None:
    console.print(f"{run(lambda p: svc.words_add(p, words))} words added")


@words_app.command("remove")
def words_remove(word: str) -> None:
    run(lambda p: svc.words_remove(p, word))
    console.print(f"{word}: removed")


@words_app.command("list")
def words_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    words = run(svc.words_list)
    emit(words, True) if as_json else console.print("\n".join(words) or "(none)")


@words_app.command("count")
def words_count() -> None:
    console.print(str(len(run(svc.words_list))))


@limits_app.command("set")
def limits_set(
    account: str,
    daily: Annotated[int | None, typer.Option(help="Messages per number per day (4082)")] = None,
    daily_codes: Annotated[int | None, typer.Option(help="Verification codes per number per day (4085)")] = None,
    ceiling: Annotated[int | None, typer.Option(help="Attempts per number per day before 408")] = None,
    reset: Annotated[bool, typer.Option("--reset", help="Back to the platform defaults first")] = False,
) -> None:
    """Set an account's own limits; running processes use them within the account cache TTL (2 s)."""
    run(
        lambda p: svc.limits_set(
            p, account, reset=reset, limit_daily=daily, limit_daily_codes=daily_codes, limit_daily_ceiling=ceiling
        )
    )
    console.print(f"{account}: limits updated")


@limits_app.command("show")
def limits_show(account: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The limits in force (the account's own values, else the platform defaults)."""
    emit(run(lambda p: svc.limits_show(p, account)), as_json)


@package_app.command("add")
def package_add(
    name: str,
    segments: Annotated[int, typer.Option(help="Segments in the package")],
    price_cents: Annotated[int, typer.Option(help="Price in fen (cents of a yuan)")],
) -> None:
    package_id = run(lambda p: billing.add_package(p, name, segments, price_cents))
    console.print(f"package {package_id}: {name}")


@package_app.command("list")
def package_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    rows = run(billing.list_packages)
    if as_json:
        emit(rows, True)
        return
    table = Table("id", "name", "segments", "price (yuan)", "per segment (fen)")
    for r in rows:
        table.add_row(
            str(r["id"]), r["name"], str(r["segments"]), f"{r['price_cents'] / 100:.2f}", str(r["unit_price_fen"])
        )
    console.print(table)


@package_app.command("buy")
def package_buy(account: str, package_id: int) -> None:
    """Buy a package for an account (a simulated payment): tops up and records the price."""
    balance = run(lambda p: billing.buy_package(p, account, package_id))
    console.print(f"{account}: balance {balance}")
