"""The identity authority's name + ID-number check (二要素核验)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

MATCH, MISMATCH, NO_RECORD, INVALID_ID_NUMBER, INVALID_NAME = "match", "mismatch", "no_record", "invalid_id_number", "invalid_name"


@dataclass(frozen=True)
class IdentityVerdict:
    """What the authority said about one name + ID-number pair: `outcome` is one of the names above."""

    outcome: str

    @property
    def confirmed(self) -> bool:
        return self.outcome == MATCH


class IdentityAuthority(Protocol):
    async def check(self, name: str, id_number: str, document_type: str = "resident_id") -> IdentityVerdict:
        """Ask whether `name` is the holder of `id_number`, a document of `document_type` (accounts.documents).
        Raises ProviderUnavailable or ProviderThrottled when the authority cannot answer now, and
        ProviderUnavailable("document_not_covered") for a document it does not check."""
