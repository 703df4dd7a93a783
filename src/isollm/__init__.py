"""isollm: many AI coding agents in parallel, each isolated, on tasks from a shared queue."""

__version__ = "0.1.0"
