"""How `make run` points the platform at the stand-in departments (a `StandInSpec`'s `args` and `point`).

The stand-in is started with our subsystem (`--client`); once it answers, `point` tells it where our keys are
published (`<our url>/.well-known/jwks.json`, fetched when the first request arrives, as the app starts after the
stand-ins), fetches the registry of its services for our subsystem (url, department key, purposes, timeout,
retries, breaker) and writes it beside the stand-ins' logs, 0600, for APP_EXCHANGE_REGISTRY.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from app.config import Settings
from app.file_modes import make_private_dir, write_private_file

REGISTRY_FILE = "exchange-registry.json"
JWKS_PATH = "/.well-known/jwks.json"


def args(settings: Settings) -> list[str]:
    """Our subsystem, and the departments answering as slowly as the in-process stand-ins (APP_CARD_BACKEND_LATENCY)."""
    return ["--client", settings.exchange.client, "--latency", str(settings.cards.backend_latency)]


def point(url: str, settings: Settings, our_url: str) -> dict[str, Any]:
    """Register our JWKS with the stand-in, write its registry for our subsystem; the setting naming that file."""
    with httpx.Client(base_url=url, timeout=5.0) as client:
        client.post("/_standin/client-keys", json={"jwks_url": f"{our_url.rstrip('/')}{JWKS_PATH}"}).raise_for_status()
        answer = client.get("/_standin/registry", params={"client": settings.exchange.client})
        answer.raise_for_status()
    folder = Path(settings.data_dir) / "standins"
    make_private_dir(folder)
    path = folder / REGISTRY_FILE
    write_private_file(path, json.dumps(answer.json(), ensure_ascii=False, indent=2))
    return {"exchange_registry": str(path)}
