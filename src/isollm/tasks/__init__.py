"""The task queue: model, stores, the airyra-compatible HTTP server, client and agent CLI."""
