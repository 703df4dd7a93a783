"""The agent's watch: latest activity from its output, stalls flagged (and stopped)."""

from __future__ import annotations

import io
import os
import time
from typing import Any

from isollm import redaction
from isollm.agents import activity
from isollm.runner.agentlog import LogPump
from isollm.runner.watch import LINE_LIMIT, AgentWatch


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Seen:
    def __init__(self) -> None:
        self.shown: list[str] = []
        self.stalls: list[dict[str, Any]] = []

    def show(self, text: str) -> None:
        self.shown.append(text)

    def stalled(self, **facts: Any) -> None:
        self.stalls.append(facts)


def watch(clock: Clock, seen: Seen, *, after: float = 300, stop: bool = False) -> AgentWatch:
    return AgentWatch(
        activity.claude,
        stall_after=after,
        stop=stop,
        show=seen.show,
        stalled=seen.stalled,
        clock=clock,
    )


TOOL = (
    b'{"type":"assistant","message":{"content":[{"type":"tool_use","name":"Bash",'
    b'"input":{"command":"make test"}}]}}\n'
)


def test_activity_is_read_from_lines_split_across_pieces_and_shown_once() -> None:
    clock, seen = Clock(), Seen()
    w = watch(clock, seen)
    w.feed(TOOL[:30])
    assert not w.poll()
    assert seen.shown == []  # half a line says nothing yet
    w.feed(TOOL[30:])
    w.poll()
    w.poll()
    assert seen.shown == ["Bash(make test)"]


def test_updates_are_shown_at_most_once_a_second() -> None:
    clock, seen = Clock(), Seen()
    w = watch(clock, seen)
    w.feed(b"{not json one\n")
    w.poll()
    w.feed(b"{not json two\n")
    w.poll()
    assert seen.shown == ["{not json one"]
    clock.now += 1.0
    w.poll()
    assert seen.shown == ["{not json one", "{not json two"]


def test_a_silent_agent_is_flagged_once_after_stall_after_and_kept_running() -> None:
    clock, seen = Clock(), Seen()
    w = watch(clock, seen, after=300)
    w.feed(TOOL)
    clock.now += 299
    assert not w.poll()
    assert seen.stalls == []
    clock.now += 1
    assert not w.poll()  # flag: never stopped
    clock.now += 50
    w.poll()
    assert seen.stalls == [{"idle": 300, "last": "Bash(make test)", "action": "flag"}]
    assert w.flagged


def test_output_after_a_stall_clears_the_flag_and_is_shown_again() -> None:
    clock, seen = Clock(), Seen()
    w = watch(clock, seen, after=10)
    w.feed(TOOL)
    w.poll()
    clock.now += 11
    w.poll()
    assert w.flagged
    w.feed(TOOL)  # the same activity once more: the agent is alive
    w.poll()
    assert not w.flagged
    assert seen.shown == ["Bash(make test)", "Bash(make test)"]
    clock.now += 11
    w.poll()
    assert len(seen.stalls) == 2


def test_any_output_counts_as_life_even_without_activity() -> None:
    clock, seen = Clock(), Seen()
    w = watch(clock, seen, after=10)
    for _ in range(5):
        clock.now += 6
        w.feed(b'{"type":"user"}\n')  # nothing to show
        assert not w.poll()
    w.feed(b"")  # what the redactor held back: output came all the same
    assert seen.stalls == []


def test_stall_action_stop_asks_to_stop_with_the_reason() -> None:
    clock, seen = Clock(), Seen()
    w = watch(clock, seen, after=2, stop=True)
    clock.now += 2.4
    assert w.poll()
    assert w.why == "no activity for 2 s"
    assert seen.stalls == [{"idle": 2, "last": "", "action": "stop"}]


def test_stall_after_zero_never_flags() -> None:
    clock, seen = Clock(), Seen()
    w = watch(clock, seen, after=0, stop=True)
    clock.now += 10**6
    assert not w.poll()
    assert seen.stalls == []


def test_a_line_longer_than_the_limit_is_not_kept_whole() -> None:
    clock, seen = Clock(), Seen()
    w = watch(clock, seen)
    for _ in range(40):
        w.feed(b"x" * (LINE_LIMIT // 8))
    assert len(w._line) <= LINE_LIMIT
    w.feed(b"\nafter the long line\n")
    w.poll()
    assert seen.shown == ["after the long line"]


def test_activity_is_safe_for_a_terminal() -> None:
    clock, seen = Clock(), Seen()
    w = watch(clock, seen)
    w.feed(b"evil \x1b]52;c;aGk=\x07 \xe2\x80\xae done\n")
    w.poll()
    assert seen.shown
    assert "\x1b" not in seen.shown[0]
    assert "\u202e" not in seen.shown[0]


def test_the_log_pump_feeds_the_watch_what_it_writes() -> None:
    clock, seen = Clock(), Seen()
    w = watch(clock, seen)
    read_end, write_end = os.pipe()
    log = io.BytesIO()
    with os.fdopen(read_end, "rb", buffering=0) as source:
        pump = LogPump(source, log, on_data=w.feed).start()
        os.write(write_end, TOOL + b"working on it\n")
        os.close(write_end)
        time.sleep(0.2)
        pump.finish()
    w.poll()
    assert seen.shown == ["working on it"]
    assert log.getvalue() == TOOL + b"working on it\n"


def test_a_failing_watch_never_stops_the_log() -> None:
    def broken(data: bytes) -> None:
        raise RuntimeError("bug")

    read_end, write_end = os.pipe()
    log = io.BytesIO()
    with os.fdopen(read_end, "rb", buffering=0) as source:
        pump = LogPump(source, log, on_data=broken).start()
        os.write(write_end, b"line\n")
        os.close(write_end)
        pump.finish()
    assert log.getvalue() == b"line\n"


def test_secrets_never_reach_the_activity_shown() -> None:
    key = "sk-test-0123456789abcdef"
    pem = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\n-----END KEY-----"
    redaction.register(key, pem)
    clock, seen = Clock(), Seen()
    w = watch(clock, seen)
    w.feed(f"calling with {key[:10]}".encode())
    w.feed(f"{key[10:]} now\n".encode())
    clock.now += 1
    w.poll()
    w.feed(b"MIIEvQIBADANBgkqhkiG9w0B\n")
    clock.now += 1
    w.poll()
    assert seen.shown == ["calling with [redacted] now", "[redacted]"]


def test_the_last_line_before_a_silence_is_shown_though_secrets_are_registered() -> None:
    redaction.register("a-secret-of-some-length-" * 4)  # the pump's redactor holds ~95 bytes
    clock, seen = Clock(), Seen()
    w = watch(clock, seen)
    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "rb", buffering=0) as source:
        pump = LogPump(source, io.BytesIO(), on_data=w.feed).start()
        os.write(write_end, b"API retry 3\n")
        time.sleep(0.3)
        w.poll()
        os.close(write_end)
        pump.finish()
    assert seen.shown == ["API retry 3"]
