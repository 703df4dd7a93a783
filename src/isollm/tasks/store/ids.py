"""Short random ids (``ar-1f3c``, ``sp-09ab``) that never collide.

airyra draws 4 hex digits and fails with a 500 on a collision (likely after a few
hundred tasks). Here a taken id is simply drawn again, and when several draws in a
row are taken the id grows by one digit, so the space never fills up.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

TASK_PREFIX = "ar-"
SPEC_PREFIX = "sp-"
MIN_WIDTH = 4
MAX_WIDTH = 32
DRAWS_PER_WIDTH = 8

Draw = Callable[[int], str]


def random_hex(width: int) -> str:
    return secrets.token_hex((width + 1) // 2)[:width]


class IdAllocator:
    """Allocates ids for one kind of record; remembers the width it had to grow to."""

    def __init__(self, prefix: str, width: int = MIN_WIDTH, draw: Draw = random_hex) -> None:
        self.prefix = prefix
        self.width = width
        self._draw = draw

    def allocate(self, taken: Callable[[str], bool]) -> str:
        """A fresh id for which ``taken(id)`` is false."""
        while self.width <= MAX_WIDTH:
            for _ in range(DRAWS_PER_WIDTH):
                candidate = self.prefix + self._draw(self.width)
                if not taken(candidate):
                    return candidate
            self.width += 1
        raise RuntimeError(f"no free id with prefix {self.prefix!r} up to {MAX_WIDTH} digits")
