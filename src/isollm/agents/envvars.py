"""Environments for agent CLIs: pass through only what is needed, never show a secret.

API keys reach an agent only through its environment, copied from the host's at the
moment it starts: never written to a file, an argv or a log line. :class:`AgentEnv`
is a plain ``dict`` whose ``repr`` masks every secret-looking value; :func:`build`
registers every secret value with :mod:`isollm.redaction`, which scrubs it out of
everything isollm writes (logs, receipts, the ledger, task reasons).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from isollm import redaction

MASK = "***"

# Variables any CLI needs to behave (locale, terminal, proxies, CA bundles, git identity).
BASE_PASSTHROUGH = (
    "PATH",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "TERM",
    "COLORTERM",
    "TZ",
    "USER",
    "LOGNAME",
    "SHELL",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "NODE_EXTRA_CA_CERTS",
    "GIT_AUTHOR_NAME",
    "GIT_AUTHOR_EMAIL",
    "GIT_COMMITTER_NAME",
    "GIT_COMMITTER_EMAIL",
)

# A name is secret when one of its _-separated words is one of these (GIT_AUTHOR_NAME is not).
_SECRET_WORDS = frozenset(
    {"KEY", "APIKEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "CREDENTIALS", "AUTH"}
)
# Flags whose value is a secret (``--api-key X`` or ``--api-key=X``).
_SECRET_FLAG = re.compile(r"^--?[\w-]*(key|token|secret|password)[\w-]*$", re.IGNORECASE)


def is_secret_name(name: str) -> bool:
    """Whether an environment variable name looks like it holds a credential."""
    return not _SECRET_WORDS.isdisjoint(name.upper().split("_"))


class AgentEnv(dict[str, str]):
    """An agent's environment: a dict whose printed form masks secret values."""

    def masked(self) -> dict[str, str]:
        return {k: MASK if is_secret_name(k) and v else v for k, v in self.items()}

    def secrets(self) -> list[str]:
        """The secret values it holds (registered for redaction by :func:`build`)."""
        return [v for k, v in self.items() if is_secret_name(k) and v]

    def __repr__(self) -> str:
        return f"AgentEnv({self.masked()!r})"

    __str__ = __repr__


def pick(host_env: Mapping[str, str], names: Iterable[str]) -> dict[str, str]:
    """The variables of ``host_env`` named in ``names`` that are set."""
    return {name: host_env[name] for name in names if name in host_env}


def build(
    host_env: Mapping[str, str],
    *,
    passthrough: Iterable[str] = (),
    fixed: Mapping[str, str] | None = None,
) -> AgentEnv:
    """The base variables and ``passthrough`` ones from the host, then ``fixed`` on top."""
    env = AgentEnv(pick(host_env, BASE_PASSTHROUGH))
    env.update(pick(host_env, passthrough))
    env.update(fixed or {})
    redaction.register(*env.secrets())
    return env


def mask_args(args: Sequence[str]) -> list[str]:
    """``args`` with the value of every secret-looking flag replaced by a mask."""
    out: list[str] = []
    hide_next = False
    for arg in args:
        flag, eq, _value = arg.partition("=")
        if hide_next:
            out.append(MASK)
        elif eq and _SECRET_FLAG.match(flag):
            out.append(f"{flag}={MASK}")
        else:
            out.append(arg)
        hide_next = not eq and bool(_SECRET_FLAG.match(arg))
    return out
