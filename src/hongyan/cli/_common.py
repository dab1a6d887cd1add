"""Helpers shared by the CLI commands: settings, a platform for one command, output."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from sqlalchemy.exc import IntegrityError

from hongyan.services.platform import Platform
from hongyan.settings import Settings
from hongyan.store.accounts import NotFound

T = TypeVar("T")
console = Console()
err_console = Console(stderr=True)


def run(fn: Callable[[Platform], Awaitable[T]]) -> T:
    """Open the platform (migrating first), run ``fn``, close; errors become a message and exit code 1."""

    async def main() -> T:
        platform = await Platform.open(Settings(), writer=False)
        try:
            return await fn(platform)
        finally:
            await platform.close()

    try:
        return asyncio.run(main())
    except (NotFound, ValueError) as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    except IntegrityError:
        err_console.print("[red]error:[/red] that already exists (names must be unique)")
        raise typer.Exit(1) from None


def emit(data: Any, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, default=str))
    elif isinstance(data, dict):
        for key, value in data.items():
            console.print(f"[bold]{key}[/bold]: {value}")
    else:
        console.print(data)
