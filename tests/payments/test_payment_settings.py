"""An operator configures WeChat Pay through APP_PAYMENT_* variables and is told what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.config import ConfigError, Settings
from tests.core.test_config import PRODUCTION

MERCHANT_SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"  # the sample serial_no of the signing guide


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, str]:
    """The merchant's apiclient_key.pem and WeChat Pay's public key, as files an operator mounts."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    merchant = tmp_path / "apiclient_key.pem"
    merchant.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    platform = tmp_path / "pub_key.pem"
    platform.write_bytes(rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return {"merchant": str(merchant), "platform": str(platform)}


@pytest.fixture
def paying_in_production(keys: dict[str, str]) -> dict[str, str]:
    return {**PRODUCTION, "APP_PAYMENT_PROVIDER_URL": "https://api.mch.weixin.qq.com",
            "APP_PAYMENT_MERCHANT_ID": "1230000109", "APP_PAYMENT_MERCHANT_SERIAL": MERCHANT_SERIAL,
            "APP_PAYMENT_MERCHANT_KEY_FILE": keys["merchant"],
            "APP_PAYMENT_API_V3_KEY": "a7Kp2Qx9Lm4Rt8Wz1Nc6Vb3Hd5Fg0Jsy",  # set in the merchant platform
            "APP_PAYMENT_APP_APPID": "wx2421b1c4370ec43b",
            "APP_PAYMENT_NOTIFY_URL": "https://gov.example.cn/api/provider/v1/payment-notifications"}


def test_the_defaults_need_no_provider_and_notify_our_own_address():
    settings = Settings.from_env({})
    assert settings.payments.provider == "wechatpay_v3" and settings.payments.provider_url == ""
    assert settings.payments.ttl == 900 and settings.payments.settle_after == 60
    assert settings.resolved_payment_notify_url == "http://127.0.0.1:8000/api/provider/v1/payment-notifications"
    assert len(settings.payments.api_v3_key.encode()) == 32  # the stand-in's, usable outside production only
    assert settings.payments.platform_public_key_file == ""  # platform certificates are downloaded


def test_production_pays_with_the_merchants_own_credentials(paying_in_production, keys):
    settings = Settings.from_env(paying_in_production)
    assert settings.payments.provider_url == "https://api.mch.weixin.qq.com"
    assert settings.payments.merchant_id == "1230000109" and settings.payments.merchant_key_file == keys["merchant"]
    pinned = Settings.from_env({**paying_in_production, "APP_PAYMENT_PLATFORM_PUBLIC_KEY_FILE": keys["platform"],
                                "APP_PAYMENT_PLATFORM_PUBLIC_KEY_ID": "PUB_KEY_ID_0114232134912410000000000000"})
    assert pinned.payments.platform_public_key_id == "PUB_KEY_ID_0114232134912410000000000000"


@pytest.mark.parametrize("name, value, says", [
    ("APP_PAYMENT_MERCHANT_KEY_FILE", "", "APP_PAYMENT_MERCHANT_KEY_FILE is required in production"),
    ("APP_PAYMENT_MERCHANT_SERIAL", "", "APP_PAYMENT_MERCHANT_SERIAL is required in production"),
    ("APP_PAYMENT_API_V3_KEY", Settings().payments.api_v3_key, "APP_PAYMENT_API_V3_KEY must be set in production"),
    ("APP_PAYMENT_APP_APPID", Settings().payments.app_appid, "APP_PAYMENT_APP_APPID must be set in production"),
    ("APP_PAYMENT_MERCHANT_ID", Settings().payments.merchant_id, "APP_PAYMENT_MERCHANT_ID must be set in production"),
    ("APP_PAYMENT_NOTIFY_URL", "", "APP_PAYMENT_NOTIFY_URL must be our public https address"),
    ("APP_PAYMENT_NOTIFY_URL", "http://gov.example.cn/notify", "APP_PAYMENT_NOTIFY_URL must be our public https"),
    ("APP_PAYMENT_NOTIFY_URL", "https://127.0.0.1:8000/notify", "APP_PAYMENT_NOTIFY_URL must be our public https"),
    ("APP_PAYMENT_PROVIDER_URL", "http://api.mch.weixin.qq.com", "APP_PAYMENT_PROVIDER_URL is a stand-in"),
    ("APP_PAYMENT_PROVIDER_URL", "https://127.0.0.1:8320", "APP_PAYMENT_PROVIDER_URL is a stand-in"),
])
def test_production_refuses_stand_in_and_sample_payment_settings(paying_in_production, name, value, says):
    with pytest.raises(ConfigError, match=says):
        Settings.from_env({**paying_in_production, name: value})


@pytest.mark.parametrize("environ, says", [
    ({"APP_PAYMENT_PROVIDER": "alipay"}, "APP_PAYMENT_PROVIDER must be wechatpay_v3"),
    ({"APP_PAYMENT_PROVIDER_URL": "ftp://pay"}, "APP_PAYMENT_PROVIDER_URL"),
    ({"APP_PAYMENT_PROVIDER_URL": "https://"}, "APP_PAYMENT_PROVIDER_URL has no host"),
    ({"APP_PAYMENT_NOTIFY_URL": "nowhere"}, "APP_PAYMENT_NOTIFY_URL"),
    ({"APP_PAYMENT_API_V3_KEY": "short"}, "APP_PAYMENT_API_V3_KEY must be 32 bytes"),
    ({"APP_PAYMENT_API_V3_KEY": "密钥" + "k" * 30}, "APP_PAYMENT_API_V3_KEY must be 32 bytes"),  # 32 characters, 36 bytes
    ({"APP_PAYMENT_MERCHANT_ID": "19OOOOOOO1"}, "APP_PAYMENT_MERCHANT_ID"),
    ({"APP_PAYMENT_MERCHANT_ID": "１９０００００００１"}, "APP_PAYMENT_MERCHANT_ID"),  # full-width digits
    ({"APP_PAYMENT_PLATFORM_PUBLIC_KEY_FILE": "{platform}"}, "go together"),
    ({"APP_PAYMENT_PLATFORM_PUBLIC_KEY_ID": "PUB_KEY_ID_0114232134912410000000000000"}, "go together"),
    ({"APP_PAYMENT_PLATFORM_PUBLIC_KEY_FILE": "/nonexistent/pub_key.pem",
      "APP_PAYMENT_PLATFORM_PUBLIC_KEY_ID": "PUB_KEY_ID_0114232134912410000000000000"}, "no such file"),
    ({"APP_PAYMENT_MERCHANT_KEY_FILE": "/nonexistent/apiclient_key.pem"}, "APP_PAYMENT_MERCHANT_KEY_FILE: no such file"),
    ({"APP_PAYMENT_TTL": "10"}, "APP_PAYMENT_TTL"),
    ({"APP_PAYMENT_TTL": str(24 * 3600 + 1)}, "APP_PAYMENT_TTL"),
    ({"APP_PAYMENT_SETTLE_AFTER": "0"}, "APP_PAYMENT_SETTLE_AFTER"),
    ({"APP_PAYMENT_PROVIDER_TIMEOUT": "60"}, "APP_PAYMENT_PROVIDER_TIMEOUT"),
])
def test_bad_payment_settings_are_refused(environ, says, keys):
    environ = {name: value.format(**keys) for name, value in environ.items()}
    with pytest.raises(ConfigError, match=says):
        Settings.from_env(environ)


def test_the_same_settings_done_right_are_taken(keys):
    settings = Settings.from_env({"APP_PAYMENT_PROVIDER_URL": "http://127.0.0.1:8320",
                                  "APP_PAYMENT_MERCHANT_KEY_FILE": keys["merchant"],
                                  "APP_PAYMENT_PLATFORM_PUBLIC_KEY_FILE": keys["platform"],
                                  "APP_PAYMENT_PLATFORM_PUBLIC_KEY_ID": "PUB_KEY_ID_0114232134912410000000000000",
                                  "APP_PAYMENT_TTL": "60", "APP_PAYMENT_SETTLE_AFTER": "3600"})
    assert settings.payments.provider_url == "http://127.0.0.1:8320" and settings.payments.ttl == 60


@pytest.mark.parametrize("setting", ["APP_PAYMENT_MERCHANT_KEY_FILE", "APP_PAYMENT_PLATFORM_PUBLIC_KEY_FILE"])
def test_a_key_file_that_holds_no_key_stops_the_start_naming_its_setting(tmp_path, keys, setting):
    """A mounted file that is not the PEM key it should be (an empty secret, the wrong file) is caught at start."""
    from app.server import create_app

    wrong = tmp_path / "not-a-key.pem"
    wrong.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    environ = {"APP_DATA_DIR": str(tmp_path / "data"), "APP_PAYMENT_PROVIDER_URL": "http://127.0.0.1:8320",
               "APP_PAYMENT_MERCHANT_KEY_FILE": keys["merchant"],
               "APP_PAYMENT_PLATFORM_PUBLIC_KEY_FILE": keys["platform"],
               "APP_PAYMENT_PLATFORM_PUBLIC_KEY_ID": "PUB_KEY_ID_0114232134912410000000000000", setting: str(wrong)}
    with pytest.raises(ConfigError, match=setting):
        create_app(Settings.from_env(environ))
