"""``python -m isollm.tasks.agent_cli``: the ``airyra`` command."""

import sys

from isollm.tasks.agent_cli.cli import main

sys.exit(main())
