"""What a stand-in can be told to act out (slow, failing, throttled, ...), shared by every stand-in."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Behaviour:
    """A fault to act out for `count` more replies (0: until cleared), waiting `delay` seconds where it waits."""

    mode: str
    count: int = 1
    delay: float = 0.0

    def use(self) -> bool:
        """Count one reply acted out; True when that was the last (the behaviour then ends)."""
        if self.count > 0:
            self.count -= 1
            return self.count == 0
        return False
