"""Landing the work of a run: ``isollm diff``, the merge queue ``isollm merge``, ``isollm gc``."""
