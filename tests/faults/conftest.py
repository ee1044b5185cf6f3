"""Fault fixtures: the service under test reaches PostgreSQL and Redis through cuttable proxies.

These tests need the real servers (APP_DATABASE_URL=postgres://..., APP_REDIS_URL=redis://...);
on the embedded default (SQLite file, in-memory cache) there is no connection to cut, so they skip.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import AsyncIterator
from urllib.parse import urlparse, urlunparse

import pytest

from app.config import Settings
from tests.conftest import ON_POSTGRES, REDIS_URL
from tests.faults.proxy import FaultProxy

needs_redis = pytest.mark.skipif(not REDIS_URL, reason="cuts the connection to Redis: set APP_REDIS_URL "
                                 "(the embedded in-memory cache has no connection to lose)")
needs_postgres = pytest.mark.skipif(not ON_POSTGRES, reason="cuts the connection to PostgreSQL: set "
                                    "APP_DATABASE_URL=postgres://... (the embedded SQLite file has none)")


def through(url: str, proxy: FaultProxy) -> str:
    parts = urlparse(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{proxy.port}"
    return urlunparse(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


async def _proxy_for(url: str, default_port: int) -> FaultProxy:
    parts = urlparse(url)
    return await FaultProxy(parts.hostname or "127.0.0.1", parts.port or default_port).start()


@pytest.fixture
async def redis_proxy() -> AsyncIterator[FaultProxy | None]:
    proxy = await _proxy_for(REDIS_URL, 6379) if REDIS_URL else None
    yield proxy
    if proxy is not None:
        await proxy.close()


@pytest.fixture
async def postgres_proxy(database_url: str) -> AsyncIterator[FaultProxy | None]:
    proxy = await _proxy_for(database_url, 5432) if ON_POSTGRES else None
    yield proxy
    if proxy is not None:
        await proxy.close()


@pytest.fixture
def settings(database_url: str, tmp_path: Path, redis_proxy: FaultProxy | None,
             postgres_proxy: FaultProxy | None, tencent_cloud_url: str, jpush_url: str) -> Settings:
    return Settings(
        env="test",
        data_dir=tmp_path,
        database_url=through(database_url, postgres_proxy) if postgres_proxy else database_url,
        redis_url=through(REDIS_URL, redis_proxy) if redis_proxy else "",
        cache_namespace=f"test:{secrets.token_hex(6)}",
        scheduler_enabled=False,
        unavailable_retry_after=7,
        sms_url=tencent_cloud_url, voice_url=tencent_cloud_url, identity_url=tencent_cloud_url,
        face_url=tencent_cloud_url, push_url=jpush_url,
    )


@pytest.fixture
async def faults(app, redis_proxy: FaultProxy | None, postgres_proxy: FaultProxy | None) -> AsyncIterator[None]:
    """Whatever a test cut is restored before the service is torn down (which empties the tables)."""
    yield
    for proxy in (redis_proxy, postgres_proxy):
        if proxy is not None:
            proxy.restore()
