"""Money as people read it: amounts are kept in whole fen (分) and shown as yuan text, never through floats."""

from __future__ import annotations


def yuan(fen: int) -> str:
    """Fen as yuan text without floats: 20000 -> ¥200.00."""
    return f"¥{fen // 100:,}.{fen % 100:02d}"


__all__ = ["yuan"]
