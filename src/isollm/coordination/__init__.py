"""Coordination between agents running at the same time, seen from the host: which
running tasks touch the same files (:mod:`isollm.coordination.conflicts`). The file
locks and the context board themselves live in the task server
(:mod:`isollm.tasks.store.coordination`)."""
