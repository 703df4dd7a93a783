"""What configures an interactive session, read from ``isollm.yaml`` in one place.

``isollm up`` / ``attach`` / ``status`` take a :class:`SessionSettings` instead of
reading the config themselves, so every ``session:`` key (and ``zellij.layout``) has
one mapping (checked by ``tests/unit/test_config_reach.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from isollm.config import Config


@dataclass(frozen=True)
class SessionSettings:
    """A session's settings: config values, with the command line's overrides applied."""

    prompt: str  # the agents' first prompt; "" when they start idle
    notify: tuple[str, ...]  # argv run when a worker starts waiting; () for none
    mux: str  # auto | zellij | tmux | none
    layout: str  # auto | horizontal | vertical | grid

    @classmethod
    def from_config(
        cls, config: Config, *, mux: str | None = None, idle: bool = False
    ) -> SessionSettings:
        """``mux``: the command line's ``--mux`` (None: config ``session.mux``);
        ``idle``: ``isollm up --idle`` (agents get no first prompt)."""
        return cls(
            prompt="" if idle else config.session.prompt.strip(),
            notify=tuple(config.session.notify),
            mux=mux or config.session.mux,
            layout=config.zellij.layout,
        )
