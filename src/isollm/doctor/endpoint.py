"""The model API answers: a TCP connect and one HTTP request to its base URL, briefly.

Any HTTP answer counts (401 without a key, 404 on a bare base URL): the check is that
something is there, not that a model call would succeed, and it costs no tokens.
"""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from urllib.parse import urlsplit

from isollm.agents.base import Agent
from isollm.doctor.model import Check, fail, ok, skip

TIMEOUT = 4.0

# Per agent: the host variables naming its endpoint, then its default endpoint ("" when
# it depends on the model, as aider's does).
ENDPOINTS: dict[str, tuple[tuple[str, ...], str]] = {
    "claude": (("ANTHROPIC_BASE_URL",), "https://api.anthropic.com"),
    "codex": (("OPENAI_BASE_URL",), "https://api.openai.com/v1"),
    "gemini": (("GOOGLE_GEMINI_BASE_URL",), "https://generativelanguage.googleapis.com"),
    "aider": (("OPENAI_API_BASE", "OLLAMA_API_BASE"), ""),
    "command": ((), ""),
}
PROXIES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
CLOUD = ("CLAUDE_CODE_USE_BEDROCK", "CLAUDE_CODE_USE_VERTEX", "GOOGLE_GENAI_USE_VERTEXAI")


def base_url(agent: Agent, env: Mapping[str, str]) -> str:
    """The URL the agent's CLI will send its model requests to, or "" if unknown."""
    if agent.settings.base_url:
        return agent.settings.base_url
    names, default = ENDPOINTS.get(agent.name, ((), ""))
    return next((env[n] for n in names if env.get(n)), default)


def model_endpoint(agent: Agent, env: Mapping[str, str], network: str) -> Check:
    name = f"{agent.name}: model API"
    url = base_url(agent, env)
    if network == "none":
        if agent.name == "command":
            return skip(name, "the command agent runs offline (sandbox.network: none)")
        return fail(
            name,
            f"sandbox.network is none: {agent.name} cannot reach its model API",
            "set sandbox.network: host in isollm.yaml",
        )
    if any(env.get(n) for n in CLOUD):
        return skip(name, "a cloud provider's endpoint (not checked)")
    if not url:
        return skip(name, "no base URL configured")
    return probe(name, url, env)


def probe(name: str, url: str, env: Mapping[str, str], timeout: float = TIMEOUT) -> Check:
    """Connect to ``url``'s host (or the proxy) and send it one HEAD request."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return fail(name, f"{url!r} is not an http(s) URL", "fix agent.base_url in isollm.yaml")
    started = time.monotonic()
    proxied = any(env.get(p) for p in PROXIES)
    if not proxied:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            socket.create_connection((parts.hostname, port), timeout=timeout).close()
        except OSError as exc:
            return _unreachable(name, url, f"cannot connect: {exc.strerror or exc}")
    left = max(0.5, timeout - (time.monotonic() - started))
    return _request(name, url, env, left)


def _request(name: str, url: str, env: Mapping[str, str], timeout: float) -> Check:
    proxies = {k.lower().removesuffix("_proxy"): v for k, v in env.items() if k in PROXIES}
    opener = urllib.request.build_opener(urllib.request.ProxyHandler(proxies))
    request = urllib.request.Request(url, method="HEAD")  # noqa: S310 - http(s) checked
    try:
        with opener.open(request, timeout=timeout) as resp:
            status = resp.status
    except urllib.error.HTTPError as exc:  # an answer all the same
        status = exc.code
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return _unreachable(name, url, f"no HTTP answer: {reason}")
    return ok(name, f"{url} answered (HTTP {status})")


def _unreachable(name: str, url: str, why: str) -> Check:
    return fail(
        name,
        f"{url}: {why}",
        "check the network and proxy settings, or agent.base_url in isollm.yaml "
        "(the model server must be running)",
    )
