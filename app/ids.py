"""Opaque ids: a short type prefix and 128 random bits, so ids reveal neither order nor count."""

import secrets


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(16)}"
