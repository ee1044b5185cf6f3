"""Face check against the authority's photo (人脸核身): a session the phone completes in the
provider's SDK or page, then the provider's verdict fetched by its token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from app.integrations import ProviderError


class FaceSessionGone(ProviderError):
    """The provider no longer knows the session's token (expired or never issued): start a new one."""


class FaceSubjectRefused(ProviderError):
    """The provider cannot check this person (no photo at the authority, a name or number it refuses)."""


@dataclass(frozen=True)
class FaceSession:
    """A started check: the phone opens `url` (or passes `biz_token` to the provider's SDK)."""

    biz_token: str
    url: str


@dataclass(frozen=True)
class FaceVerdict:
    """The provider's result for one session. `finished` is False while the person has not done it yet.
    `similarity` is 0-100 against the authority's photo; `id_number` and `name` are whom it checked."""

    finished: bool
    live: bool = False
    similarity: float = 0.0
    id_number: str | None = None
    name: str | None = None
    code: str = ""  # the provider's result code ("0" passed), for the audit; no personal data

    @property
    def passed_at_provider(self) -> bool:
        """The provider's own result: a check it failed for any reason never passes here."""
        return self.finished and self.code == "0"


class FaceProvider(Protocol):
    name: str  # shown to the phone, e.g. "tencent-faceid"

    async def start(self, name: str, id_number: str, redirect_url: str) -> FaceSession:
        """Start a check of the person named, against the authority's photo for `id_number`."""

    async def verdict(self, biz_token: str) -> FaceVerdict:
        """The result of a session; ProviderUnavailable while the provider cannot say."""

    async def complete_with_sample(self, biz_token: str, sample: bytes) -> None:
        """Stand-in only: do the check with a captured sample, as the phone would in the provider's page.
        A real provider's adapter raises ProviderMisconfigured."""
