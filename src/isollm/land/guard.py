"""What a task's branch may not change when it lands: isollm's own files.

``isollm.yaml`` decides how every later agent is confined (``sandbox.backend``,
``sandbox.expose``, ``sandbox.network``) and names commands the host runs
(``session.notify``, ``merge.test_command``, ``sandbox.setup``); ``.isollm/`` is the
project's runtime state. An agent's branch that changes either would, once landed and
pulled, rewrite the rules it runs under. So ``isollm merge`` refuses such a landing
unless the user, having read it (``isollm diff``), allows it for that merge.
"""

from __future__ import annotations

from isollm import terminal
from isollm.config.load import CONFIG_FILE, STATE_DIR
from isollm.git.facade import Git

# Literal pathspecs: the names as they are, no globbing; a folder covers what it holds.
PATHSPECS = (f":(literal){CONFIG_FILE}", f":(literal){STATE_DIR}")
MOST_NAMED = 20


def isollm_files(git: Git, old: str, new: str) -> list[str]:
    """The files of isollm's own that landing ``new`` on ``old`` changes (a few at most)."""
    result = git.run(
        "diff-tree", "-r", "-z", "--no-renames", "--name-only", old, new, "--", *PATHSPECS
    )
    names = [n for n in result.stdout.split("\0") if n]
    return names[:MOST_NAMED]


def refusal(files: list[str]) -> str:
    """Why a landing that changes ``files`` was refused, and how to allow it."""
    return (
        f"it changes isollm's own files ({', '.join(map(terminal.safe_line, files))}): "
        "an agent may not change "
        "the rules it runs under; read it (`isollm diff`), then land it with "
        "`isollm merge TASK --allow-isollm-files` if you agree"
    )
