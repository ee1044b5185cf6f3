"""SMS and voice codes (短信、语音验证码): what the domains call, whichever provider sends.

Chinese carriers deliver only templates the provider approved, so a message is a template name of
ours (`login_code`, a notification kind) and its parameters in the template's order; the adapter maps
the name to the provider's template id from settings.
"""

from __future__ import annotations

from typing import Protocol, Sequence

from app.integrations import ProviderError


class InvalidPhoneNumber(ProviderError):
    """The provider refused the number itself (not a mobile number, a blocked number)."""


class SmsGateway(Protocol):
    async def send(self, phone: str, template: str, params: Sequence[str]) -> str:
        """Send template `template` with `params` to `phone`; the provider's serial number.
        Raises InvalidPhoneNumber, or a ProviderError subclass."""

    async def call_code(self, phone: str, code: str) -> str:
        """Ring `phone` and read out the digits of `code` (语音验证码); the provider's call id."""
