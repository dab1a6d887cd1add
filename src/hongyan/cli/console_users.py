"""``hongyan console user …``: console logins, e.g. the operators who review signatures and templates."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.table import Table

from hongyan.cli._common import console, run
from hongyan.services import console_users as svc

console_app = typer.Typer(help="Web console (/console): users and operators.", no_args_is_help=True)
user_app = typer.Typer(help="Console users.", no_args_is_help=True)
console_app.add_typer(user_app, name="user")


@user_app.command("add")
def user_add(
    username: str,
    operator: Annotated[bool, typer.Option("--operator", help="May use the operators' pages (/console/admin)")] = False,
    account: Annotated[str | None, typer.Option(help="Log in to this existing account (APIID)")] = None,
    phone: Annotated[str, typer.Option(help="Contact phone")] = "",
    password: Annotated[
        str | None, typer.Option(help="Password (default: HONGYAN_CONSOLE_PASSWORD, else asked)")
    ] = None,
) -> None:
    """Create a console user; with --operator an operator (no account needed)."""
    secret = (
        password
        or os.environ.get("HONGYAN_CONSOLE_PASSWORD")
        or typer.prompt("password", hide_input=True, confirmation_prompt=True)
    )
    user = run(lambda p: svc.add_user(p, username, secret, phone=phone, operator=operator, api_id=account))
    role = "operator" if user.is_operator else "user"
    console.print(f"{user.username}: {role}" + (f" of {user.api_id}" if user.api_id else ""))


@user_app.command("operator")
def user_operator(
    username: str, revoke: Annotated[bool, typer.Option("--revoke", help="Take the operator role away")] = False
) -> None:
    """Give a user the operator role (or take it away with --revoke)."""
    run(lambda p: svc.set_operator(p, username, not revoke))
    console.print(f"{username}: {'user' if revoke else 'operator'}")


@user_app.command("list")
def user_list() -> None:
    """Every console user with its role and account."""
    users = run(svc.list_users)
    table = Table("username", "phone", "role", "account")
    for u in users:
        table.add_row(u.username, u.phone, "operator" if u.is_operator else "user", u.api_id or "")
    console.print(table)
