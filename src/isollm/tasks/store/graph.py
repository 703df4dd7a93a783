"""Dependency graphs: finding the chain that a new edge would close into a cycle."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable


def find_path(start: str, goal: str, parents: Callable[[str], Iterable[str]]) -> list[str] | None:
    """The dependency chain from ``start`` to ``goal`` (breadth first), or None.

    ``parents(node)`` yields the nodes ``node`` depends on.
    """
    came_from: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            path = [node]
            while (prev := came_from[path[-1]]) is not None:
                path.append(prev)
            return path[::-1]
        for parent in parents(node):
            if parent not in came_from:
                came_from[parent] = node
                queue.append(parent)
    return None
