"""``airyra``: the task CLI agents use inside sandboxes. Standard library only.

airyra's verbs, flags, ``--json`` output and exit codes, plus ``claim-next`` (claim
the most urgent ready task in one call) and ``heartbeat`` (renew the lease). It is
configured only by the environment, so its identity does not depend on the working
directory: AIRYRA_HOST (default localhost), AIRYRA_PORT (7432), AIRYRA_PROJECT
(required), AIRYRA_AGENT (default user@host), AIRYRA_TOKEN (bearer token) and
AIRYRA_SOCKET (the server's Unix socket: used instead of host and port when it exists,
which is how a sandbox without a network reaches the queue).

A claim's fencing token is remembered under $AIRYRA_STATE_DIR (default ~/.airyra)
and sent with done, release and heartbeat, so a worker whose lease ran out cannot
finish a task that was handed to someone else.

The rule of this package: **it imports the standard library and its own modules,
nothing else** (not isollm's other packages, not httpx; ``isollm`` and
``isollm.tasks`` are only docstrings). Agents run it with whatever Python the sandbox
has, and :mod:`~isollm.tasks.agent_cli.bundle` joins its modules into one file
(``python -m isollm.tasks.agent_cli.bundle airyra.py``) to copy into a container on
its own. ``tests/unit/test_tasks_agent_cli_stdlib.py`` enforces the rule.

Modules: ``api`` (environment, HTTP over TCP or the Unix socket, exit codes, fences),
``render`` (text and JSON output), ``commands`` (one function per command), ``deliver``
(``push``: the work of HEAD to the task's branch, through the server) and ``hooks``
(``state``, ``hook``: the agent's state for isollm's dashboard), ``cli``
(arguments and :func:`main`, the ``airyra`` entry point); ``bundle`` is not part of
the program, it builds the one-file copy.
"""

from __future__ import annotations

from isollm.tasks.agent_cli.cli import main

__all__ = ["main"]
