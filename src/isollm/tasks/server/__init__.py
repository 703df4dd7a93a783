"""The task server: airyra's v1 HTTP API (plus isollm's extensions) over a task store.

The HTTP application:

- ``app``: the endpoints (:class:`~isollm.tasks.server.app.TaskApi`), the router and
  :func:`~isollm.tasks.server.app.create_app`; ``spec_routes``: the spec endpoints;
- ``asgi``: the small ASGI core it runs on (routing, bounded bodies, error envelopes:
  the fast path a claim takes); ``parse``: request bodies and queries;
- ``projects``: the stores of the projects served, and claim-next's group commit;
- ``auth`` and ``tokens``: who may do what (bearer tokens, scoped by project and role);
- ``openapi`` and ``openapi_schemas``: the OpenAPI document at ``/openapi.json``.

Its process lifecycle:

- ``options``: where the server keeps its files and how it is asked to run;
- ``run``: running a server in this process (bind, uvicorn, graceful stop;
  ``EmbeddedServer`` for tests);
- ``daemon``: the server process's entry point (``python -m isollm.tasks.server.daemon``,
  what ``isollm server start`` spawns and ``isollm serve`` runs in the foreground);
- ``control``: what other commands do with that process: start, stop, status,
  ``ensure_server``, tokens for agents, and refusing a server of another isollm home.
"""
