"""What every payments operation shares: the platform, the provider, the payables and receipts, the wallet
receipts go into, and the departments being told of settlements. One context per service, so setting the
provider (or the notify URL) in one place changes it for notices, settlement, refunds and reconciliation."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from app.background import BackgroundTasks
from app.cache import cache_lock
from app.config import Settings
from app.errors import Unavailable
from app.integrations import ProviderError, ProviderThrottled
from app.integrations.payment_providers import PaymentProvider
from app.payments.payables import Payables
from app.payments.receipts import Receipts
from app.platform import Platform

PROVIDER_RETRY_AFTER = 30  # seconds a citizen is told to wait when the provider did not answer


def provider_unavailable(failure: ProviderError | None = None, **extra: Any) -> Unavailable:
    """503 PAYMENT_PROVIDER_UNAVAILABLE with Retry-After: the provider's own wait when it throttled us."""
    wait = failure.retry_after if isinstance(failure, ProviderThrottled) else PROVIDER_RETRY_AFTER
    return Unavailable("PAYMENT_PROVIDER_UNAVAILABLE", headers={"Retry-After": str(wait)},
                       extra={**extra, "retry_after": wait})


@dataclass
class PaymentsContext:
    platform: Platform
    provider: PaymentProvider | None
    payables: Payables
    receipts: Receipts
    wallet: Any  # the e-licence wallet (LicenceService), where receipts are put
    notify_url: str
    # Departments told of payments after the provider's notice is answered.
    telling: BackgroundTasks = field(default_factory=lambda: BackgroundTasks("settlement"))


class Operations:
    """Base of the payments operations: each reads the shared context through these names."""

    def __init__(self, context: PaymentsContext) -> None:
        self.context = context

    @property
    def platform(self) -> Platform:
        return self.context.platform

    @property
    def settings(self) -> Settings:
        return self.context.platform.settings

    @property
    def provider(self) -> PaymentProvider | None:
        return self.context.provider

    def connected(self) -> PaymentProvider:
        """The provider; 503 PAYMENT_PROVIDER_UNAVAILABLE when there is none."""
        if self.context.provider is None:
            raise provider_unavailable()
        return self.context.provider

    def one_at_a_time(self, name: str, wait: float = 15.0) -> AbstractAsyncContextManager[None]:
        """A lock in the shared cache (across workers with Redis), waited for up to `wait` seconds; held while
        the provider is called (bounded by its timeout), so a double tap waits and then finds the first one."""
        return cache_lock(self.platform.cache, name, ttl=wait, wait=wait)
