"""Interactive sessions: every worker's agent in a pane of a terminal multiplexer.

``isollm up`` starts one, ``isollm status`` shows it, ``isollm down`` ends it. The
multiplexers themselves (tmux, zellij, none) live in :mod:`isollm.session.mux`.
"""
