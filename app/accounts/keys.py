"""Where the accounts domain keeps a citizen's cached state (the same cache on every worker)."""

from __future__ import annotations


def citizen_key(citizen_id: str) -> str:
    """The cached citizen snapshot. Its hash tag is the citizen's id, as in `session_key`: read together on
    every signed-in request, the two share a slot of a Redis Cluster (one MGET to one node)."""
    return f"citizen:{{{citizen_id}}}"


def session_key(citizen_id: str, session_id: str) -> str:
    """A session's cached state ("1" live, "0" revoked), tagged with its citizen's id (see `citizen_key`)."""
    return f"sess:{{{citizen_id}}}:{session_id}"


def unlinked_phone_hash(citizen_id: str) -> str:
    """What stands for the phone number's lookup hash once the erasure (注销) has unlinked it: no number hashes
    to it, so the number signs in to a new account; a citizen row holding it is a closed account."""
    return f"erased:{citizen_id}"
