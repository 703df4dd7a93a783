"""``isollm serve`` (foreground) and ``isollm server start|stop|status|token``.

Settings come from the flags, else from isollm.yaml's ``airyra`` section when run in a
project, else the defaults (127.0.0.1:7432).
"""

from __future__ import annotations

import dataclasses

import click

from isollm import config as cfg
from isollm.cli import output
from isollm.errors import NotAProjectError
from isollm.tasks.server import control as service
from isollm.tasks.server import daemon, tokens
from isollm.tasks.server.options import ServeOptions

NO_PROJECT = "name the project with --project (no isollm.yaml here)"
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print a JSON document.")


def _options(
    host: str | None = None,
    port: int | None = None,
    lease_seconds: float | None = None,
    auth: bool | None = None,
) -> ServeOptions:
    try:
        options = service.options_from_config(cfg.load_valid().config)
    except NotAProjectError:
        options = ServeOptions()
    return dataclasses.replace(
        options,
        host=options.host if host is None else host,
        port=options.port if port is None else port,
        lease_seconds=options.lease_seconds if lease_seconds is None else lease_seconds,
        auth=options.auth if auth is None else auth,
    )


def _bind_options(fn: click.decorators.FC) -> click.decorators.FC:
    fn = click.option(
        "--auth/--no-auth",
        default=None,
        help="Require bearer tokens (the default; --no-auth only on loopback).",
    )(fn)
    fn = click.option("--lease-seconds", type=float, help="Default lease of a claim.")(fn)
    fn = click.option("--port", type=click.IntRange(0, 65535), help="Port (0: any free one).")(fn)
    return click.option("--host", help="Address to bind, e.g. 127.0.0.1 or 0.0.0.0.")(fn)


@click.command("serve")
@_bind_options
def serve(
    host: str | None, port: int | None, lease_seconds: float | None, auth: bool | None
) -> None:
    """Run the task server in the foreground until Ctrl-C."""
    options = _options(host, port, lease_seconds, auth)

    def announce(state: service.ServerState) -> None:
        tokens = " (bearer tokens required)" if options.requires_tokens else ""
        output.err.print(f"Task server listening on {state.url}{tokens}; Ctrl-C stops it")

    daemon.run(options, log_to_file=False, on_listen=announce)


@click.group("server")
def server_group() -> None:
    """Run isollm's task server in the background."""


@server_group.command("start")
@_bind_options
def start(
    host: str | None, port: int | None, lease_seconds: float | None, auth: bool | None
) -> None:
    """Start the task server in the background (nothing happens if it runs)."""
    state, started = service.start(_options(host, port, lease_seconds, auth))
    verb = "Started" if started else "Already running:"
    output.info(f"{verb} task server at {state.url} (pid {state.pid}); log: {state.log}")


@server_group.command("stop")
@click.option("--port", type=click.IntRange(1, 65535), help="Port of the server to stop.")
def stop(port: int | None) -> None:
    """Stop the background task server (it finishes requests in flight first)."""
    options = _options(port=port)
    state = service.stop(options.port, options.host)
    if state is None:
        output.info(f"No task server was running on port {options.port}")
    else:
        output.info(f"Stopped the task server at {state.url} (pid {state.pid})")


@server_group.command("status")
@click.option("--port", type=click.IntRange(1, 65535), help="Port of the server.")
@JSON_OPTION
def status(port: int | None, as_json: bool) -> None:
    """Say whether the task server runs; exit status 1 when it does not."""
    current = service.status(_options(port=port))
    if as_json:
        state = dataclasses.asdict(current.state) if current.state else None
        output.emit_json(
            "server_status",
            {
                "url": current.url,
                "running": current.running,
                "healthy": current.healthy,
                "state": state,
            },
        )
    elif current.running and current.state is not None:
        health = "" if current.healthy else " but does not answer"
        output.info(f"Task server running at {current.url} (pid {current.state.pid}){health}")
        output.info(f"  since {current.state.started_at}; log: {current.state.log}")
    elif current.foreign and current.answer is not None:
        output.info(str(service.foreign_server_error(current.url, current.answer)))
    elif current.healthy:
        output.info(f"A task server answers at {current.url} (not started by this isollm home)")
    else:
        output.info(f"No task server at {current.url}")
    if not current.healthy:
        raise click.exceptions.Exit(1)


@server_group.command("token")
@click.argument("agent")
@click.option("--project", help="The project it is for (default: this isollm.yaml's).")
@click.option("--reader", is_flag=True, help="A token that may only read the queue.")
def token(agent: str, project: str | None, reader: bool) -> None:
    """Print the bearer token of AGENT in one project of this machine's task server.

    Give it to the agent as AIRYRA_TOKEN: it reads that project's queue, claims for
    AGENT and finishes only AGENT's own claims. AGENT '*' prints the host's token
    (anything, any project): never give that one to an agent. Treat tokens like
    passwords; deleting ~/.isollm/tasks/secret revokes them all.
    """
    if agent == tokens.ANY:
        click.echo(service.host_token())
        return
    if project is None:
        try:
            project = cfg.load_valid().config.project
        except NotAProjectError:
            raise click.UsageError(
                "name the project with --project (no isollm.yaml here)"
            ) from None
    role = tokens.Role.READER if reader else tokens.Role.WORKER
    click.echo(service.agent_token(project, agent, role))
