"""An operator configures payments through APP_PAYMENT_* variables and is told what is wrong."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from app.config import ConfigError, Settings
from tests.core.test_config import PRODUCTION

PROVIDER_JWK = json.loads(ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()).public_key()))
PAYING_IN_PRODUCTION = {**PRODUCTION, "APP_PAYMENT_PROVIDER_URL": "https://pay.example.cn",
                        "APP_PAYMENT_MERCHANT_KEY": "a-real-secret-from-the-vault-0001",
                        "APP_PAYMENT_PROVIDER_JWK": json.dumps(PROVIDER_JWK)}


def test_the_defaults_need_no_provider_and_notify_our_own_address():
    settings = Settings.from_env({})
    assert settings.payment_provider_url == "" and settings.payment_ttl == 900
    assert settings.resolved_payment_notify_url == "http://127.0.0.1:8000/api/provider/v1/payment-notifications"


def test_production_pays_only_with_a_pinned_key_a_real_secret_and_https():
    assert Settings.from_env(PAYING_IN_PRODUCTION).payment_provider_url == "https://pay.example.cn"
    for change, says in ((("APP_PAYMENT_MERCHANT_KEY", ""), "APP_PAYMENT_MERCHANT_KEY"),
                         (("APP_PAYMENT_PROVIDER_JWK", ""), "APP_PAYMENT_PROVIDER_JWK"),
                         (("APP_PAYMENT_PROVIDER_URL", "http://pay.example.cn"), "https")):
        environ = {**PAYING_IN_PRODUCTION, change[0]: change[1]}
        with pytest.raises(ConfigError, match=says):
            Settings.from_env(environ)


@pytest.mark.parametrize("environ, says", [
    ({"APP_PAYMENT_PROVIDER_URL": "ftp://pay"}, "APP_PAYMENT_PROVIDER_URL"),
    ({"APP_PAYMENT_NOTIFY_URL": "nowhere"}, "APP_PAYMENT_NOTIFY_URL"),
    ({"APP_PAYMENT_PROVIDER_JWK": "{not json"}, "APP_PAYMENT_PROVIDER_JWK"),
    ({"APP_PAYMENT_PROVIDER_JWK": '{"kty": "RSA"}'}, "P-256"),
    ({"APP_PAYMENT_MERCHANT_KEY": "short"}, "16 characters"),
    ({"APP_PAYMENT_TTL": "10"}, "APP_PAYMENT_TTL"),
    ({"APP_PAYMENT_SETTLE_AFTER": "0"}, "APP_PAYMENT_SETTLE_AFTER"),
    ({"APP_PAYMENT_PROVIDER_TIMEOUT": "60"}, "APP_PAYMENT_PROVIDER_TIMEOUT"),
])
def test_bad_payment_settings_are_refused(environ, says):
    with pytest.raises(ConfigError, match=says):
        Settings.from_env(environ)
