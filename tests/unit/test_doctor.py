"""The preflight checks as small functions (real HTTP for the endpoint probe)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from isollm import redaction
from isollm.agents import get_agent
from isollm.agents.base import AgentSettings
from isollm.agents.claude import ClaudeAgent
from isollm.cli.doctor import render
from isollm.doctor import endpoint, host
from isollm.doctor.model import Check, Report, Status, failure
from tests.integration.tasks_support import free_port


@pytest.fixture
def server() -> Iterator[str]:
    class Quiet(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_claude_as_root_outside_a_sandbox_is_flagged() -> None:
    claude = get_agent("claude")
    assert host.root_and_claude(claude, isolated=False, euid=0).status is Status.FAIL
    assert "overlay" in host.root_and_claude(claude, isolated=False, euid=0).fix
    assert host.root_and_claude(claude, isolated=True, euid=0).status is Status.OK
    assert host.root_and_claude(claude, isolated=False, euid=1000).status is Status.OK
    assert host.root_and_claude(get_agent("codex"), False, euid=0).status is Status.SKIP


def test_credentials_named_never_shown_and_registered() -> None:
    codex = get_agent("codex")
    missing = host.credentials(codex, {})
    assert missing.status is Status.FAIL
    assert "OPENAI_API_KEY" in missing.fix
    secret = "sk-unit-doctor-0123456789"
    found = host.credentials(codex, {"OPENAI_API_KEY": secret})
    assert found.status is Status.OK
    assert secret not in found.detail
    assert secret in redaction.registered()
    bedrock = host.credentials(get_agent("claude"), {"CLAUDE_CODE_USE_BEDROCK": "1"})
    assert bedrock.status is Status.OK
    assert host.credentials(get_agent("command"), {}).status is Status.SKIP


def test_endpoint_answers_with_any_http_status(server: str) -> None:
    agent = ClaudeAgent(AgentSettings(base_url=server))
    check = endpoint.model_endpoint(agent, {}, "host")
    assert check.status is Status.OK, check
    assert "HTTP 404" in check.detail


def test_an_unreachable_endpoint_fails_fast() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    check = endpoint.model_endpoint(ClaudeAgent(AgentSettings(base_url=url)), {}, "host")
    assert check.status is Status.FAIL
    assert "cannot connect" in check.detail


def test_network_none_skips_only_the_command_agent() -> None:
    assert endpoint.model_endpoint(get_agent("command"), {}, "none").status is Status.SKIP
    claude = endpoint.model_endpoint(get_agent("claude"), {}, "none")
    assert claude.status is Status.FAIL
    assert "sandbox.network" in claude.fix


def test_base_url_comes_from_settings_then_env_then_default() -> None:
    assert endpoint.base_url(get_agent("claude"), {}) == "https://api.anthropic.com"
    env = {"ANTHROPIC_BASE_URL": "http://proxy.invalid"}
    assert endpoint.base_url(get_agent("claude"), env) == "http://proxy.invalid"
    assert endpoint.base_url(ClaudeAgent(AgentSettings(base_url="http://x")), env) == "http://x"


def test_report_renders_each_fix_and_fails() -> None:
    report = Report(
        (Check("a", Status.OK, "fine"), Check("b", Status.FAIL, "line 1\nline 2", "do this")),
        0.5,
    )
    lines = render(report)
    assert lines[0].startswith("ok")
    assert lines[1].startswith("FAIL")
    assert any("line 2" in line for line in lines)
    assert any("fix: do this" in x for x in lines)
    assert not report.ok
    assert "do this" in str(failure(report))
    assert render(Report((Check("a", Status.OK),), 0.1))[-1].startswith("all checks passed")
