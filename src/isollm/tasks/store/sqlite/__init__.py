"""The SQLite task store: one database file per project, WAL, compare-and-set rows.

- ``store``: :class:`~isollm.tasks.store.sqlite.store.SqliteTaskStore` (tasks,
  dependencies, history) and ``SqliteBackend`` (a folder of project databases);
  its mixins ``claims`` (claims, leases, fences, transitions: the hot path), ``bulk``
  (imports and clear-done in short transactions) and ``specs``;
- ``db``: the connection (pragmas, migrations, transactions, checkpoints);
- ``rows``: the shapes of the rows the queries return, column by name;
- ``queries`` and ``sql/``: every SQL statement by name, and the schema migrations.
"""
