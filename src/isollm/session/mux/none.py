"""No multiplexer: workers and agents start, no panes open (``isollm attach W`` opens one).

The simplest implementation of :class:`~isollm.session.mux.base.Multiplexer`, and so its
documentation by example: every method does nothing and says there is nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

from isollm.session.mux.base import PaneInfo, PaneSpec, SessionPlan


class NoMultiplexer:
    """A session without panes."""

    name = "none"

    def __init__(self, session: str) -> None:
        self.session = session

    def available(self) -> str | None:
        return None

    def is_running(self) -> bool:
        return False

    def start(self, plan: SessionPlan, env: Mapping[str, str] | None = None) -> None:
        return None

    def attach_argv(self, focus: str | None = None) -> list[str] | None:
        return None

    def panes(self) -> list[PaneInfo]:
        return []

    def capture(self, title: str, lines: int = 40) -> str:
        return ""

    def add_worker(self, spec: PaneSpec, env: Mapping[str, str] | None = None) -> None:
        return None

    def stop(self) -> None:
        return None
