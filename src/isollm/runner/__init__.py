"""Headless runs: the crash-safe ledger, idempotency keys, snapshots, receipts, run state.

A run lives in ``.isollm/runs/<run-id>/`` (see :mod:`isollm.runner.layout`): ``run.json``
(:mod:`~isollm.runner.runstate`), ``events.ndjson`` (:mod:`~isollm.runner.ledger`, folded
into a :class:`~isollm.runner.view.RunView`), ``snapshot.json``
(:mod:`~isollm.runner.snapshot`), ``receipts/`` and ``logs/``
(:mod:`~isollm.runner.receipts`). :mod:`~isollm.runner.summary` turns them into what
``isollm run show`` prints.
"""
