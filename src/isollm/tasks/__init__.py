"""The task queue: airyra's API and model, served by isollm, with leases and fencing.

Four sub-packages, each owning one concern (docs/tasks.md, "For developers"):

- :mod:`~isollm.tasks.store`: the model, the errors, the store Protocol, and its SQLite
  implementation (:mod:`~isollm.tasks.store.sqlite`). Knows nothing of HTTP.
- :mod:`~isollm.tasks.server`: the HTTP server over a store (ASGI app, routes, OpenAPI,
  auth and tokens) and its process lifecycle (run, daemon, control).
- :mod:`~isollm.tasks.client`: the HTTP client the rest of isollm uses, its fallbacks
  for a plain airyra, and what the host's ``isollm task`` commands do with it.
- :mod:`~isollm.tasks.agent_cli`: the ``airyra`` program agents run in sandboxes;
  standard library only, so it imports nothing from the other three.

Dependencies point one way: server and client use store (its model and errors);
agent_cli uses nothing. This module imports nothing (agent_cli's rule depends on it).
"""
