"""``hongyan``: serve the platform and administer it."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from hongyan import native
from hongyan.cli._common import console, run
from hongyan.cli.accounts import account_app, signature_app, template_app
from hongyan.cli.channels import channel_app
from hongyan.cli.console_users import console_app
from hongyan.cli.delivery import delivery_app
from hongyan.cli.policy import blacklist_app, limits_app, package_app, words_app
from hongyan.cli.pushes import push_app, webhook_app
from hongyan.cli.worker import worker_app
from hongyan.settings import Settings

app = typer.Typer(help="Hongyan (鸿雁) SMS platform.", no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
app.add_typer(account_app, name="account")
app.add_typer(signature_app, name="signature")
app.add_typer(template_app, name="template")
app.add_typer(db_app, name="db")
app.add_typer(channel_app, name="channel")
app.add_typer(delivery_app, name="delivery")
app.add_typer(blacklist_app, name="blacklist")
app.add_typer(words_app, name="words")
app.add_typer(limits_app, name="limits")
app.add_typer(package_app, name="package")
app.add_typer(push_app, name="push")
app.add_typer(webhook_app, name="webhook")
app.add_typer(worker_app, name="worker")
app.add_typer(console_app, name="console")


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply migrations up to REVISION (default: head)."""
    from hongyan.store.db import upgrade

    settings = Settings()
    upgrade(settings.database_url, revision)
    console.print(f"database at {revision}")


@db_app.command("downgrade")
def db_downgrade(revision: str) -> None:
    """Revert migrations down to REVISION (e.g. base)."""
    from hongyan.store.db import downgrade

    downgrade(Settings().database_url, revision)
    console.print(f"database at {revision}")


def _serve(host: str | None, port: int | None, workers: int) -> None:
    from hongyan.api.app import create_app
    from hongyan.logs import setup_logging
    from hongyan.server.run import serve, serve_workers
    from hongyan.store.db import upgrade

    settings = Settings()
    setup_logging(settings.log_level, settings.log_json)
    if stale := native.stale():  # an editable install edited since its build: those modules run their old code
        console.print(f"[yellow]warning:[/yellow] compiled modules older than their source: {', '.join(stale)} (make)")
    upgrade(settings.database_url)  # once, before any worker starts
    if workers > 1 and not settings.redis_url and settings.counters == "memory":
        # Several processes: in-process counters would each count alone, so the limits would not be exact.
        if "counters" in settings.model_fields_set:
            console.print("[yellow]warning:[/yellow] HONGYAN_COUNTERS=memory with several workers: limits per worker")
        else:
            os.environ["HONGYAN_COUNTERS"] = "sql"  # the workers build their settings from the environment
    if workers > 1:
        # Several API processes accept; background work runs in `hongyan worker …` processes.
        os.environ["HONGYAN_EMBEDDED_WORKERS"] = "false"
        # Prometheus multiprocess mode: every worker writes its own files there, /metrics sums them all.
        from hongyan.metrics import prepare_dir

        metrics_dir = prepare_dir(settings.metrics_dir or settings.var_dir / "metrics")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir.resolve())
        console.print("API only in these processes: run `hongyan worker all` beside them")
        serve_workers(host or settings.host, port or settings.port, workers)
    elif settings.embedded_workers and settings.worker_process and _database_file_or_server(settings.database_url):
        _serve_with_worker_child(settings, host or settings.host, port or settings.port)
    else:
        serve(create_app(settings), host or settings.host, port or settings.port)


def _database_file_or_server(url: str) -> bool:
    """A database another process can open (not an in-memory SQLite)."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    return not u.drivername.startswith("sqlite") or u.database not in (None, "", ":memory:")


def _serve_with_worker_child(settings, host: str, port: int) -> None:
    """The API here, the dispatcher and the pusher in a `hongyan worker all` child that this process supervises
    (server.worker_child); their metrics meet in one multiprocess directory, so /metrics shows both."""
    from hongyan.api.app import create_app
    from hongyan.metrics import prepare_dir
    from hongyan.server.run import serve
    from hongyan.server.worker_child import WorkerChild

    metrics_dir = prepare_dir(settings.metrics_dir or settings.var_dir / "metrics").resolve()
    env = {**os.environ, "HONGYAN_METRICS_DIR": str(metrics_dir)}
    child = WorkerChild(env)
    child.start()
    try:
        serve(
            create_app(settings.model_copy(update={"embedded_workers": False, "metrics_dir": metrics_dir})), host, port
        )
    finally:
        child.stop()


@app.command("serve")
def serve_cmd(
    host: Annotated[str | None, typer.Option(help="Bind address (default HONGYAN_HOST or 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default HONGYAN_PORT or 8080)")] = None,
    workers: Annotated[int, typer.Option(help="API worker processes")] = 1,
) -> None:
    """Apply migrations and serve the HTTP API."""
    _serve(host, port, workers)


@app.command(
    "simulator",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
def simulator_cmd(ctx: typer.Context) -> None:
    """Built-in SMSC simulator: `hongyan simulator [--port 2775] [--control-port 2776] [--status-mix …]`,
    `hongyan simulator mo MOBILE TEXT [--control HOST:PORT]` (`hongyan simulator --help` for all options)."""
    from hongyan.simulator.cli import main as simulator_main

    raise typer.Exit(simulator_main(ctx.args))


@app.command("demo")
def demo_cmd(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Only ensure the demo account and print it")] = False,
) -> None:
    """Ensure the demo account (live, 10,000 segments), print its API ID/KEY and a curl line, then serve."""
    from hongyan.services.demo import curl_line, ensure_demo, start_simulators

    settings = Settings()
    creds = run(ensure_demo)
    base = f"http://{host or settings.host}:{port or settings.port}"
    console.print(
        f"[bold green]hongyan demo account[/bold green]\n  API ID : {creds.account}\n  API KEY: {creds.apikey}"
    )
    console.print("Send a message:")
    typer.echo(curl_line(base, creds))
    if no_serve:
        return
    sims = start_simulators()  # two SMSC simulators: the primary and the backup channel
    try:
        run(lambda p: sims.configure(p))
        console.print(
            f"SMSC simulators: primary 127.0.0.1:{sims.ports[0]}, backup 127.0.0.1:{sims.ports[1]} "
            f"(send a reply: hongyan simulator mo 13800138000 TD --control 127.0.0.1:{sims.controls[0]})"
        )
        _serve(host, port, 1)
    finally:
        sims.stop()


if __name__ == "__main__":  # pragma: no cover
    app()
