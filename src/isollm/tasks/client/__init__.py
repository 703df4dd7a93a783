"""Using a task server from isollm: isollm's own, or a real airyra.

- ``http``: :class:`~isollm.tasks.client.http.TaskClient`, raising the store's errors;
- ``fallback``: what it does against a plain airyra, which lacks isollm's endpoints;
- ``host``: what the host's ``isollm task`` commands do, as functions over a client.
"""
