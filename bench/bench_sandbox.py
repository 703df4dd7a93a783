"""Time from ``create`` to a workspace ready on its branch, per sandbox backend.

    python bench/bench_sandbox.py [--files 7000] [--kib 10] [--runs 9] [--backends ...]

A generated repository (~7,000 files, ~70 MB by default) is pushed to a hub; each
backend then creates sandboxes on a task branch (checkout, no setup, no includes) and
is destroyed between runs (not timed). The baseline, measured in the same run on the
same disk, is a raw ``git worktree add -b`` of the same repository. Targets: overlay
<= 50 ms median, lxc <= 150 ms once the base exists; both >= 20x faster than the
baseline. The first overlay sandbox of a base commit also clones the shared lower
checkout; that cold start is reported on its own line.
"""

from __future__ import annotations

import argparse
import functools
import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchlib import arguments

from isollm.git.facade import Git
from isollm.sandbox import registry
from isollm.sandbox.base import Sandbox, SandboxSpec

TARGETS_MS = {"overlay": 50.0, "lxc": 150.0}
IMAGE = "debian:bookworm"


def git(cwd: Path, *args: str) -> str:
    return Git(cwd).out(*args)


def generate_repo(root: Path, files: int, kib: int) -> None:
    """``files`` text files of ``kib`` KiB each in 100 directories, one commit."""
    rng = random.Random(7)
    words = [f"{rng.getrandbits(40):010x}" for _ in range(4096)]
    git(root, "init", "-q", "-b", "main")
    for i in range(files):
        directory = root / f"pkg{i % 100:02d}"
        directory.mkdir(exist_ok=True)
        line_count = kib * 1024 // 66
        lines = (" ".join(rng.choices(words, k=6)) for _ in range(line_count))
        (directory / f"mod{i:05d}.py").write_text("\n".join(lines) + "\n")
    git(root, "add", "-A")
    git(
        root,
        "-c",
        "user.name=bench",
        "-c",
        "user.email=bench@isollm.invalid",
        "commit",
        "-q",
        "-m",
        "generated",
    )


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def bench_worktree_add(repo: Path, runs: int) -> list[float]:
    samples = []
    for i in range(runs):
        path = repo.parent / f"wt{i}"
        samples.append(
            timed(
                functools.partial(
                    git, repo, "worktree", "add", "-q", "-b", f"x{i}", str(path), "main"
                )
            )
        )
        git(repo, "worktree", "remove", "--force", str(path))
    return samples


def bench_backend(backend: str, make_spec: Callable[[str], SandboxSpec], runs: int) -> list[float]:
    samples = []
    for i in range(runs):
        spec = make_spec(f"b{i}")
        start = time.perf_counter()
        sb: Sandbox = registry.create(spec, backend)
        samples.append(time.perf_counter() - start)
        sb.destroy()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=7000)
    parser.add_argument("--kib", type=int, default=10)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--backends", nargs="*", default=["overlay", "lxc", "worktree", "podman"])
    args = arguments(parser)

    with tempfile.TemporaryDirectory(prefix="isollm-bench-", dir="/var/tmp") as tmp:
        os.environ["ISOLLM_HOME"] = f"{tmp}/home"
        run(Path(tmp), args)


def run(tmp: Path, args: argparse.Namespace) -> None:
    from isollm.git.hub import Hub
    from isollm.git.sync import push_base

    repo = tmp / "repo"
    repo.mkdir()
    started = time.perf_counter()
    generate_repo(repo, args.files, args.kib)
    size = sum(p.stat().st_size for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts)
    print(
        f"repository: {args.files} files, {size / 1e6:.0f} MB "
        f"(generated in {time.perf_counter() - started:.1f} s)"
    )
    project = f"bench{os.getpid()}"
    hub = Hub.for_project(project).ensure()
    push_base(repo, hub, "main")

    def make_spec(name: str) -> SandboxSpec:
        return SandboxSpec(
            name=name, project=project, hub=hub.path, work_branch=f"isollm/{name}", image=IMAGE
        )

    baseline = median_ms(bench_worktree_add(repo, args.runs))
    rows = [("git worktree add (baseline)", baseline, args.runs)]
    for backend in args.backends:
        reason = registry.available(backend)
        if reason:
            print(f"{backend}: skipped ({reason})")
            continue
        if backend in ("lxc", "podman"):
            from isollm.sandbox import lxcbase, podman

            lxcbase.ensure_base(IMAGE)
            if backend == "podman":
                podman.ensure_image(IMAGE)
        runs = max(3, args.runs // 3) if backend == "podman" else args.runs
        cold = bench_backend(backend, make_spec, 1) if backend == "overlay" else []
        samples = bench_backend(backend, make_spec, runs)
        if cold:
            rows.append(("overlay, first of a base (cold lower)", median_ms(cold), 1))
        rows.append((backend, median_ms(samples), runs))
    shutil.rmtree(Hub.for_project(project).path, ignore_errors=True)
    report(rows, baseline)


def report(rows: list[tuple[str, float, int]], baseline: float) -> None:
    print(f"\n{'create -> ready on branch':40} {'median':>10} {'runs':>5} {'vs worktree add':>16}")
    for name, ms, runs in rows:
        target = TARGETS_MS.get(name)
        mark = "" if target is None else (" ok" if ms <= target else f" (target {target:.0f} ms)")
        print(f"{name:40} {ms:8.1f} ms {runs:5d} {baseline / ms:14.2f}x{mark}")


if __name__ == "__main__":
    main()
