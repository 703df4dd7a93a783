"""The task server process: in the background (``isollm server start`` spawns
``python -m isollm.tasks.server.daemon --host H --port P [--lease-seconds S] [--auth]``,
which logs to a rotating file) or in the foreground (``isollm serve``, logging to
stderr). Either way it records itself in the server state file while it runs and
removes that record when it stops.
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import sys
from collections.abc import Callable, Sequence

from isollm import fsutil
from isollm.errors import IsollmError
from isollm.tasks.server import control as service
from isollm.tasks.server.options import ServeOptions, tasks_home
from isollm.tasks.server.run import bind, bind_unix, data_lock, serve

LOG_BYTES = 5 * 1024 * 1024
LOG_BACKUPS = 3


def parse_args(argv: Sequence[str] | None = None) -> ServeOptions:
    parser = argparse.ArgumentParser(prog="isollm-task-server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7432)
    parser.add_argument("--lease-seconds", type=float, default=300.0)
    parser.add_argument("--auth", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--socket", default=None, help="Unix socket path ('' for none)")
    args = parser.parse_args(argv)
    return ServeOptions(
        host=args.host,
        port=args.port,
        lease_seconds=args.lease_seconds,
        auth=args.auth,
        unix_socket=args.socket,
    )


def setup_logging(port: int) -> None:
    handler = logging.handlers.RotatingFileHandler(
        service.log_path(port), maxBytes=LOG_BYTES, backupCount=LOG_BACKUPS
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)


def run(
    options: ServeOptions,
    *,
    log_to_file: bool = True,
    on_listen: Callable[[service.ServerState], None] | None = None,
) -> None:
    """Bind, record, serve until stopped, then remove the record."""
    fsutil.ensure_dir(tasks_home())
    with data_lock(options.data_dir):
        sock = bind(options.host, options.port)
        port = int(sock.getsockname()[1])
        where = options.socket_for(port)
        unix = bind_unix(where) if where is not None else None
        state = service.new_state(options, sock, where)
        if log_to_file:
            setup_logging(state.port)
        service.write_state(state)
        if on_listen is not None:
            on_listen(state)
        logging.getLogger(__name__).info(
            "task server %s listening on %s and %s (pid %d)",
            options.data_dir,
            state.url,
            where or "no Unix socket",
            state.pid,
        )
        try:
            serve(options, sock, unix)
        finally:
            service.clear_state(state.port, state.pid)
            if where is not None:
                where.unlink(missing_ok=True)
            logging.getLogger(__name__).info("task server stopped")


def main(argv: Sequence[str] | None = None) -> None:
    try:
        run(parse_args(argv))
    except IsollmError as exc:  # told by `isollm` to the user, who needs no traceback
        print(exc, file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
