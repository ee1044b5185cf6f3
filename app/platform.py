"""The platform core every domain is handed: settings, clock, cache, keys, tokens, PII cipher.

Built once per process by `app.server.create_app`; domains receive it explicitly (no
request-global magic), and tests build their own with a movable clock.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping, Protocol

from app.cache import Cache, create_cache
from app.clock import Clock
from app.config import Settings, decode_key
from app.file_modes import check_private_files, make_private_dir
from app.security.keys import SigningKeyStore
from app.security.pii import PiiCipher
from app.security.tokens import TokenIssuer


async def _not_closed(citizen_id: str) -> bool:
    return False


class MessageSender(Protocol):
    async def send(self, message: Any) -> None:
        """Hand an inbox message to its channel, or raise the notifications domain's ChannelError."""


class MessageChannels(Protocol):
    """The senders of inbox messages' external channels (SMS, app push, mini-program subscription messages)
    and their retry policy: `app.notifications.channels.Channels`, built by the composition root. The core
    never imports a domain, so it names here only what it carries."""

    timeout: float
    max_attempts: int

    @property
    def senders(self) -> Mapping[str, MessageSender]: ...

    def backoff(self, attempts: int) -> timedelta: ...


@dataclass
class Platform:
    settings: Settings
    clock: Clock
    cache: Cache
    keys: SigningKeyStore
    tokens: TokenIssuer
    pii: PiiCipher
    # Whether an account is closed (注销 under way or done): nothing new is written for it, no inbox message
    # either. Wired by the composition root to the accounts domain; until then no account is closed.
    account_closed: Callable[[str], Awaitable[bool]] = _not_closed
    # The external message channels, set by the composition root (create_app). None in a process without
    # senders (a maintenance script): its messages' SMS, push and mini-program deliveries stay pending
    # until the service's retry job takes them over.
    channels: MessageChannels | None = None


def load_pii_key(settings: Settings) -> bytes:
    """APP_PII_KEY, or outside production a key generated once under the keys folder (mode 0600)."""
    return load_secret_key(settings.security.pii_key, "APP_PII_KEY", settings.resolved_keys_dir / "pii.key")


def load_secret_key(value: str, name: str, path: Path) -> bytes:
    """A 32-byte secret: the setting `name` (base64) when given, else the one generated once at `path` (mode 0600)."""
    if value:
        return decode_key(value, name)
    if not path.exists():
        make_private_dir(path.parent)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(base64.b64encode(os.urandom(32)).decode("ascii"))
    return decode_key(path.read_text().strip(), str(path))


def build_platform(settings: Settings, clock: Clock | None = None) -> Platform:
    """Raises ConfigError in production when a private folder or file is readable by others."""
    check_private_files(settings)  # outside production: tightened, each path named in a warning
    clock = clock or Clock()
    keys = SigningKeyStore(
        Path(settings.resolved_keys_dir),
        clock,
        # Old keys stay published long enough for anything they signed to expire.
        grace=timedelta(seconds=max(settings.accounts.access_token_ttl, 24 * 3600)),
        create_if_missing=not settings.production,
    )
    keys.load()
    return Platform(
        settings=settings,
        clock=clock,
        cache=create_cache(settings.redis_url, settings.cache_namespace, settings.redis_max_connections,
                           near_ttl=settings.cache_near_ttl, one_time_replicas=settings.cache_one_time_replicas,
                           one_time_wait_ms=settings.cache_one_time_wait_ms),
        keys=keys,
        tokens=TokenIssuer(keys, clock, settings.security.issuer, settings.accounts.access_token_ttl),
        pii=PiiCipher(load_pii_key(settings)),
    )
