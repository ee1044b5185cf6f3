"""The registry of department services (APP_EXCHANGE_REGISTRY): read into registrations, or refused at start
with the file and the entry named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from app.config import ConfigError
from app.integrations.exchange.registry import DEFAULT_BREAKER, DEFAULT_TIMEOUT, load_registry
from app.security.keys import public_jwk
from tests.integrations.exchange.department import CLIENT, HPF, HRSS, new_key

KEY, KID = new_key()
SERVICE = f"{HRSS}/insured-status/v1"


def entry(**changes: Any) -> dict[str, Any]:
    jwk = public_jwk(KID, KEY.public_key())
    value = {"service": SERVICE, "url": f"http://127.0.0.1:8330/r1/{SERVICE}",
             "keys": [{k: jwk[k] for k in ("kty", "crv", "x", "y", "kid")}],
             "purposes": ["citizen_request", "home_card"], "timeout": 2.0, "retries": 1,
             "breaker": {"failures": 5, "open_seconds": 30}}
    value.update(changes)
    return {k: v for k, v in value.items() if v is not None}


def write(tmp_path: Path, *entries: dict[str, Any], client: str = CLIENT) -> Path:
    path = tmp_path / "registry.json"
    path.write_text(json.dumps({"client": client, "services": list(entries)}), "utf-8")
    return path


def test_a_registry_is_read_into_registrations(tmp_path: Path) -> None:
    other = f"{HPF}/balance/v1"
    registry = load_registry(write(tmp_path, entry(department="hrss", name="广东省人力资源和社会保障厅（示例）"),
                                   entry(service=other, url=f"https://gw.hpf.example/r1/{other}", purposes=[],
                                         timeout=None, retries=None, breaker=None)), client=CLIENT)
    assert str(registry.client) == CLIENT and set(registry.services) == {SERVICE, other}
    first = registry.services[SERVICE]
    assert str(first.service) == SERVICE and first.url.endswith(f"/r1/{SERVICE}")
    assert first.purposes == {"citizen_request", "home_card"}
    assert (first.timeout, first.retries, first.breaker.failures, first.breaker.open_seconds) == (2.0, 1, 5, 30)
    assert isinstance(first.keys[KID], ec.EllipticCurvePublicKey)
    assert first.keys[KID].public_numbers() == KEY.public_key().public_numbers()
    assert (first.department, first.name) == ("hrss", "广东省人力资源和社会保障厅（示例）")
    defaulted = registry.services[other]
    assert (defaulted.timeout, defaulted.retries, defaulted.breaker) == (DEFAULT_TIMEOUT, 0, DEFAULT_BREAKER)
    assert defaulted.purposes == frozenset() and defaulted.department == ""


@pytest.mark.parametrize("changes, words", [
    ({"purposes": ["home_card", "curiosity"]}, "curiosity"),
    ({"purposes": "home_card"}, '"purposes"'),
    ({"name": 7}, '"name"'),
    ({"keys": []}, '"keys"'),
    ({"keys": [{**public_jwk(KID, KEY.public_key()), "d": "c2VjcmV0"}]}, "private key"),
    ({"keys": [{**public_jwk(KID, KEY.public_key()), "x": "AAAA"}]}, "keys[0]"),
    ({"keys": [{**public_jwk(KID, KEY.public_key()), "crv": "P-384"}]}, "keys[0]"),
    ({"keys": [public_jwk(KID, KEY.public_key())] * 2}, "repeated"),
    ({"url": "ftp://hrss.example/"}, '"url"'),
    ({"timeout": 0}, '"timeout"'),
    ({"timeout": "2"}, '"timeout"'),
    ({"retries": 1.5}, '"retries"'),
    ({"retries": 9}, '"retries"'),
    ({"breaker": {"failures": 0, "open_seconds": 30}}, "breaker.failures"),
    ({"breaker": {"open": 30}}, '"breaker"'),
    ({"timout": 2.0}, "unknown fields ['timout']"),
])
def test_a_bad_entry_is_refused_naming_the_setting_and_the_entry(tmp_path: Path, changes: dict[str, Any],
                                                                 words: str) -> None:
    path = write(tmp_path, entry(), entry(service=f"{HPF}/balance/v1", **changes))
    with pytest.raises(ConfigError) as refused:
        load_registry(path)
    message = str(refused.value)
    assert message.startswith(f"APP_EXCHANGE_REGISTRY {path}: services[1] ({HPF}/balance/v1)")
    assert words in message


def test_a_bad_file_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.json"
    with pytest.raises(ConfigError, match="APP_EXCHANGE_REGISTRY .*cannot be read"):
        load_registry(missing)
    missing.write_text("{not json", "utf-8")
    with pytest.raises(ConfigError, match="not JSON"):
        load_registry(missing)
    with pytest.raises(ConfigError, match=r"services\[0\]: \"service\""):
        load_registry(write(tmp_path, entry(service="hrss/insured-status")))
    with pytest.raises(ConfigError, match="registered twice"):
        load_registry(write(tmp_path, entry(), entry()))
    with pytest.raises(ConfigError, match="APP_EXCHANGE_CLIENT"):
        load_registry(write(tmp_path, entry(), client="CN-GD/GOV/11440000MB2C93140X/other-app"), client=CLIENT)


def test_production_takes_https_gateways_only(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="https gateway"):
        load_registry(write(tmp_path, entry()), production=True)
    with pytest.raises(ConfigError, match="https gateway"):
        load_registry(write(tmp_path, entry(url=f"https://127.0.0.1/r1/{SERVICE}")), production=True)
    https = entry(url=f"https://gw.hrss.example/r1/{SERVICE}")
    assert SERVICE in load_registry(write(tmp_path, https), production=True).services
