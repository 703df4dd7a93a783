"""A local HTTP server that plays a model for real agent CLIs, offline.

One server on 127.0.0.1 (port 0: the OS picks a free one), in a thread, speaking four
protocols at once so any CLI can point at it:

- Anthropic Messages (Claude Code): ``HEAD /``, ``POST /v1/messages`` (SSE)
- OpenAI Responses (Codex CLI): ``POST /v1/responses`` (SSE)
- OpenAI chat/completions (aider): ``POST /v1/chat/completions`` (SSE or JSON)
- Gemini (Gemini CLI): ``POST /v1beta/models/M:streamGenerateContent`` (SSE) and friends

Every request is recorded (method, path, headers, JSON body) so tests can assert on
what the CLI sent, e.g. which API key header or model it used.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fakemodel import anthropic, gemini, openai_chat, openai_responses
from tests.fakemodel.script import Script
from tests.fakemodel.sse import Reply, json_reply

Handler = Callable[[dict[str, Any], Script], Reply]


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


def _route(method: str, path: str) -> Handler | None:
    route = path.split("?", 1)[0]
    if method == "POST":
        return _post_route(route)
    if method == "GET" and route.rstrip("/").endswith("/models"):
        return _models
    return None


def _post_route(route: str) -> Handler | None:
    table: dict[str, Handler] = {
        "/v1/messages": anthropic.messages,
        "/v1/messages/count_tokens": anthropic.count_tokens,
        "/v1/responses": openai_responses.responses,
        "/v1/chat/completions": openai_chat.completions,
        "/chat/completions": openai_chat.completions,
    }
    if route in table:
        return table[route]
    if ":" in route and "/models/" in route:
        return gemini.handler_for(route.rsplit(":", 1)[1])
    return None


def failure(script: Script) -> Reply:
    """An error body every protocol's clients understand (OpenAI, Anthropic and Google
    all use ``{"error": {"message": ...}}``)."""
    error = {
        "type": "invalid_request_error",
        "code": script.fail_status,
        "status": "INVALID_ARGUMENT",
        "message": script.fail_message,
    }
    return json_reply({"type": "error", "error": error}, status=script.fail_status)


def _models(body: dict[str, Any], script: Script) -> Reply:
    model = {"id": "fake-model", "object": "model", "created": 0, "owned_by": "fake"}
    return json_reply({"object": "list", "data": [model], "models": [model]})


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_HEAD(self) -> None:
        self._record(None)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.headers.get("Content-Encoding") in ("gzip", "zstd", "br"):
            return {"_encoded": self.headers.get("Content-Encoding")}
        try:
            return json.loads(raw) if raw else {}
        except ValueError:
            return {"_raw": raw.decode(errors="replace")}

    def _record(self, body: Any) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.owner.record(Recorded(self.command, self.path, headers, body))

    def _handle(self) -> None:
        body = self._read_body() if self.command == "POST" else {}
        self._record(body)
        handler = _route(self.command, self.path)
        script = self.server.owner.script
        if handler is None:
            reply = json_reply({"error": {"message": f"no route {self.path}"}}, status=404)
        elif script.fail_status and self.command == "POST":
            reply = failure(script)
        else:
            reply = handler(body if isinstance(body, dict) else {}, self.server.owner.script)
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        if not reply.streaming:
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
            return
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        delay = self.server.owner.script.stream_delay
        for index, event in enumerate(reply.events):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            self.wfile.flush()
            if index == 0 and delay:
                time.sleep(delay)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: FakeModelServer


class FakeModelServer:
    """``with FakeModelServer(script) as server:`` … ``server.url`` … ``server.requests``."""

    def __init__(self, script: Script | None = None) -> None:
        self.script = script or Script()
        self._requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), _RequestHandler)
        self._httpd.owner = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    def record(self, request: Recorded) -> None:
        with self._lock:
            self._requests.append(request)

    def posts(self, fragment: str) -> list[Recorded]:
        """Recorded POST requests whose path contains ``fragment``."""
        return [r for r in self.requests if r.method == "POST" and fragment in r.path]

    def start(self) -> FakeModelServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
