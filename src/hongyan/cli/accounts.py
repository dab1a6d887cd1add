"""``hongyan account|signature|template …``: administration of accounts, signatures and templates."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from hongyan.cli._common import console, emit, run
from hongyan.domain.states import AccountState, ReviewState
from hongyan.services import accounts as svc
from hongyan.services import channels as channel_svc
from hongyan.services import review
from hongyan.services.platform import Platform

account_app = typer.Typer(help="Accounts: create, top up, freeze, configure.", no_args_is_help=True)
signature_app = typer.Typer(help="Signatures (签名): add and review.", no_args_is_help=True)
template_app = typer.Typer(help="Templates (模板): list and review.", no_args_is_help=True)


@account_app.command("create")
def account_create(
    name: str,
    balance: Annotated[int | None, typer.Option(help="Opening segments (default: 50 free in test mode)")] = None,
    live: Annotated[bool, typer.Option("--live", help="Start live instead of in test mode")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Create an account and print its API ID and API KEY (the key is shown only here)."""
    creds = run(lambda p: svc.create_account(p, name, balance=balance, live=live))
    emit({"account": creds.account, "apikey": creds.apikey}, as_json)


@account_app.command("topup")
def account_topup(account: str, amount: int, note: Annotated[str | None, typer.Option()] = None) -> None:
    """Add segments (writes a ledger row)."""
    balance = run(lambda p: svc.topup(p, account, amount, note))
    console.print(f"{account}: balance {balance}")


@account_app.command("freeze")
def account_freeze(account: str) -> None:
    """Freeze: every request answers 4050."""
    run(lambda p: svc.set_state(p, account, AccountState.FROZEN))
    console.print(f"{account}: frozen")


@account_app.command("unfreeze")
def account_unfreeze(account: str) -> None:
    """Make a frozen account live again."""
    run(lambda p: svc.set_state(p, account, AccountState.LIVE))
    console.print(f"{account}: live")


@account_app.command("live")
def account_live(account: str) -> None:
    """Take an account out of test mode."""
    run(lambda p: svc.set_state(p, account, AccountState.LIVE))
    console.print(f"{account}: live")


@account_app.command("set")
def account_set(
    account: str,
    ip: Annotated[str | None, typer.Option("--ip", help="Allow-list: IPs/CIDRs, comma-separated ('' clears)")] = None,
    registered_ip: Annotated[str | None, typer.Option(help="Registered (备案) IPs, comma-separated")] = None,
    receipt_url: Annotated[str | None, typer.Option(help="Receipt push URL")] = None,
    reply_url: Annotated[str | None, typer.Option(help="Reply (MO) push URL")] = None,
    template_url: Annotated[str | None, typer.Option(help="Template review push URL")] = None,
    require_template: Annotated[bool | None, typer.Option(help="Free text must match a template")] = None,
    default_signature: Annotated[str | None, typer.Option(help="Signature for content without one")] = None,
    channel_group: Annotated[
        str | None, typer.Option(help="Channel group its messages route in ('' or 'default': the default group)")
    ] = None,
) -> None:
    """Change account settings; options not given stay as they are."""

    async def apply(p: Platform) -> list[str]:
        await svc.set_fields(
            p,
            account,
            allowed_ips=ip,
            registered_ips=registered_ip,
            receipt_url=receipt_url,
            reply_url=reply_url,
            template_url=template_url,
            require_template=require_template,
            default_signature=default_signature,
            channel_group=channel_group,
        )
        return await channel_svc.served_by_default_only(p, channel_group)

    missing = run(apply)
    console.print(f"{account}: updated")
    if missing:
        console.print(f"note: group {channel_group} has no channel for {', '.join(missing)}: default serves those")


@account_app.command("show")
def account_show(account: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show an account (the API key is never shown again)."""
    emit(run(lambda p: svc.show(p, account)), as_json)


@signature_app.command("add")
def signature_add(
    account: str,
    text: str,
    approve: Annotated[bool, typer.Option("--approve", help="Approve at once")] = False,
    category: Annotated[str, typer.Option(help="notice | verification | marketing")] = "notice",
) -> None:
    """Apply for a signature (text without brackets)."""
    sig_id = run(lambda p: svc.add_signature(p, account, text, approve=approve, category=category))
    console.print(f"signature {sig_id}: {'approved' if approve else 'pending'}")


@signature_app.command("approve")
def signature_approve(signature_id: int) -> None:
    run(lambda p: review.review_signature(p, signature_id, ReviewState.APPROVED))
    console.print(f"signature {signature_id}: approved")


@signature_app.command("reject")
def signature_reject(
    signature_id: int, reason: Annotated[str, typer.Option(help="Shown to the customer")] = ""
) -> None:
    """Reject with a reason (required)."""
    run(lambda p: review.review_signature(p, signature_id, ReviewState.REJECTED, reason))
    console.print(f"signature {signature_id}: rejected")


@template_app.command("list")
def template_list(
    state: Annotated[str | None, typer.Option(help="pending | approved | rejected")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List templates (all accounts), oldest first."""
    rows = run(lambda p: svc.list_templates(p, state))
    if as_json:
        emit(rows, True)
        return
    table = Table("id", "account", "state", "category", "text")
    for r in rows:
        table.add_row(str(r["id"]), r["api_id"] or "(built-in)", r["state"], r["category"], r["text"])
    console.print(table)


@template_app.command("approve")
def template_approve(template_id: int) -> None:
    run(lambda p: review.review_template(p, template_id, ReviewState.APPROVED))
    console.print(f"template {template_id}: approved")


@template_app.command("reject")
def template_reject(template_id: int, reason: Annotated[str, typer.Option(help="Pushed to the customer")] = "") -> None:
    """Reject with a reason (required); the review push carries it."""
    run(lambda p: review.review_template(p, template_id, ReviewState.REJECTED, reason))
    console.print(f"template {template_id}: rejected")


@template_app.command("category")
def template_category(template_id: int, category: str) -> None:
    """Set a template's category: notice | verification | marketing."""
    run(lambda p: svc.set_template_category(p, template_id, category))
    console.print(f"template {template_id}: {category}")
