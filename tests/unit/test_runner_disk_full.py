"""A full disk is told apart from every other error, however deep it is wrapped
(issue #12: it used to end in "isollm hit an unexpected error" and a crash log), and a
hub without room for a delivery by the room left on its disk, never by git's words."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from isollm.errors import IsollmError, StateError
from isollm.git import intake
from isollm.git.hub import Hub
from isollm.runner.crashes import DiskFullError, disk_full, disk_full_error


def wrapped(inner: BaseException) -> StateError:
    """``inner`` as the ledger raises it: a StateError from the OSError."""
    try:
        try:
            raise inner
        except OSError as exc:
            raise StateError("cannot append to the run ledger: No space left on device") from exc
    except StateError as outer:
        return outer


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_a_full_disk_is_found_directly_and_through_causes(code: int) -> None:
    full = OSError(code, "No space left on device")
    assert disk_full(full) is full
    assert disk_full(wrapped(full)) is full


@pytest.mark.parametrize(
    "exc",
    [
        OSError(errno.EACCES, "Permission denied"),
        ValueError("no"),
        IsollmError("No space left on device"),  # words alone (an agent's output) do not count
        wrapped(OSError(errno.EIO, "Input/output error")),
    ],
)
def test_other_errors_are_not_a_full_disk(exc: BaseException) -> None:
    assert disk_full(exc) is None


def test_the_message_says_what_was_written_and_how_to_carry_on(tmp_path: Path) -> None:
    full = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "run.json"))
    said = disk_full_error(full, full, "20261205-010203-abcd")
    assert isinstance(said, DiskFullError)
    assert said.message == (
        f"the disk is full (No space left on device writing {tmp_path / 'run.json'}): "
        "the run stopped, its state intact"
    )
    assert said.hint is not None
    assert "`isollm run --resume 20261205-010203-abcd`" in said.hint
    nameless = OSError(errno.ENOSPC, "No space left on device")
    ledger = wrapped(nameless)
    said = disk_full_error(ledger, nameless, None)
    assert "(cannot append to the run ledger: No space left on device)" in said.message
    assert said.hint is not None
    assert "run the same command again" in said.hint
    assert "(No space left on device)" in disk_full_error(nameless, nameless, None).message


def test_a_cycle_of_causes_ends() -> None:
    a, b = ValueError("a"), ValueError("b")
    a.__cause__, b.__cause__ = b, a
    assert disk_full(a) is None


# --- a hub without room for a delivery ------------------------------------------------------

GRANT = intake.task_grant("isollm/", "t1", "main", None)


def test_a_refused_delivery_into_a_hub_with_room_is_no_full_disk(tmp_path: Path) -> None:
    hub = Hub(tmp_path / "hub.git").ensure()
    bundle = tmp_path / "No space left on device"  # in git's words, as a sandbox could put it
    bundle.write_text("not a bundle: No space left on device\n")
    with pytest.raises(intake.IntakeRefusedError) as refused:
        intake.deliver_bundle(hub, bundle, GRANT, agent="w1")
    assert "No space left on device" in refused.value.message
    assert disk_full(refused.value) is None
