"""App push (推送) to a signed-in device, through the provider that reaches APNs and the Android channels."""

from __future__ import annotations

from typing import Mapping, Protocol

from app.integrations import ProviderError

PLATFORMS = ("ios", "android")


class InvalidPushToken(ProviderError):
    """The provider no longer knows the device's token (app removed, token rotated): drop it."""


class PushGateway(Protocol):
    async def push(self, platform: str, token: str, title: str, body: str, extras: Mapping[str, str]) -> str:
        """Show a notification on one device; the provider's message id. Raises InvalidPushToken or
        another ProviderError."""
