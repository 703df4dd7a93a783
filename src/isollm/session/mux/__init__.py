"""Terminal multiplexers behind one interface (:mod:`.base`): tmux, zellij and none."""

from isollm.session.mux.base import (
    LAYOUTS,
    MUX_NAMES,
    Multiplexer,
    MuxError,
    PaneInfo,
    PaneSpec,
    SessionPlan,
    choose,
    session_name,
)

__all__ = [
    "LAYOUTS",
    "MUX_NAMES",
    "Multiplexer",
    "MuxError",
    "PaneInfo",
    "PaneSpec",
    "SessionPlan",
    "choose",
    "session_name",
]
