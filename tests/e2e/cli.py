"""Run the installed ``isollm`` command as a user does (shared by the e2e CLI tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

# The installed command beside this interpreter; ISOLLM_TEST_CLI names another (the escape
# suite run as a normal user has the system python and no installed command).
ISOLLM = os.environ.get("ISOLLM_TEST_CLI") or str(Path(sys.executable).parent / "isollm")


def isollm(cwd: Path, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    """Run ``isollm *args`` in ``cwd``; assert it exits with ``code``."""
    result = subprocess.run(
        [ISOLLM, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == code, result
    return result


def as_json(cwd: Path, *args: str) -> Any:
    """The ``data`` of ``isollm *args --json`` after checking the schema version."""
    doc = json.loads(isollm(cwd, *args, "--json").stdout)
    assert doc["schema"] == 1
    return doc["data"]
