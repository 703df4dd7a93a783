"""Every object a delivery brings into the hub, checked strictly.

``transfer.fsckObjects`` does not reach objects fetched from a git bundle (git before
2.46 indexes a bundle's pack unchecked), and even where it does, a tree holding
``.git``, ``..`` or their case and NTFS/HFS twins is only a warning. So once a delivery
is fetched to its private incoming ref, the objects it added (reachable from it, from
no other ref) are packed alone and indexed with ``git index-pack --strict``: every
object parsed, every warning an error, every link present. Only host git runs, in the
hub, on a pack written to a private directory inside it (on the hub's own filesystem:
pack-objects moves its pack there).
"""

from __future__ import annotations

import tempfile

from isollm.git.facade import Git

_TAIL = 2000


def checked(git: Git, ref: str, known_ns: str) -> tuple[str, str | None]:
    """(the commit ``ref`` names, None) when ``ref`` is a commit whose new objects (not
    reachable from any ref outside ``known_ns``, the incoming namespace) pass the strict
    check; ("", why not) otherwise."""
    commit = git.resolve(ref)
    if commit is None or commit != git.rev_parse(ref):
        return "", "is not a commit at HEAD"
    listed = git.run("rev-list", "--objects", commit, "--not", f"--exclude={known_ns}*", "--all")
    if not listed.stdout.strip():
        return commit, None
    # inside the hub: pack-objects renames its pack there from the hub's objects/pack
    with tempfile.TemporaryDirectory(prefix=".objcheck-", dir=git.cwd) as tmp:
        packed = git.run("pack-objects", "-q", f"{tmp}/new", input=listed.stdout, check=False)
        if not packed.ok:  # the caller removes the incoming ref either way
            return "", f"could not be checked (git pack-objects failed):\n{_tail(packed.stderr)}"
        pack = f"{tmp}/new-{packed.stdout.strip()}.pack"
        strict = git.run("index-pack", "--strict", "-o", f"{tmp}/strict.idx", pack, check=False)
    if strict.ok:
        return commit, None
    return "", f"holds objects git's strict check refuses:\n{_tail(strict.stderr)}"


def _tail(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _TAIL else "..." + text[-_TAIL:]
