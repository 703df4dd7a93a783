"""The ``isollm`` command line: thin click commands that call the core and render results."""
