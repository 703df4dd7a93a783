"""The task store: what a task is, what may happen to it, and where it is kept.

- ``model``: the values (Task, Claim, Spec, pages, imports) and their wire shape;
- ``errors``: the API's errors, one class per code, raised by the store and re-raised
  by the client from the server's answers;
- ``protocol``: the :class:`~isollm.tasks.store.protocol.TaskStore` Protocol every
  store implements (and ``StoreBackend``: one store per project);
- ``validate``, ``ids``, ``graph``, ``import_plan``: checks, id allocation, cycle
  search and import planning, pure and shared by every store;
- :mod:`~isollm.tasks.store.sqlite`: the SQLite store.

Imports nothing from the server, the client or HTTP.
"""
