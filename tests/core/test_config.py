"""An operator configures the service through APP_* variables and is told clearly what is wrong."""

from __future__ import annotations

import os
import re
import json
import subprocess
from pathlib import Path

import pytest

from app.notifications.sms_templates import texted_templates
from app.config import ConfigError, Settings

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv" / "bin" / "python"
GOOD_PII_KEY = "q83vEjRWeJq8UXQsO5BGlg+P4lE1rxuQv/RT3xCLDL4="  # 32 random-looking bytes
ZERO_PII_KEY = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="  # 32 zero bytes: a placeholder

PRODUCTION = {
    "APP_ENV": "production",
    "APP_PII_KEY": GOOD_PII_KEY,
    "APP_DATABASE_URL": "postgres://gov@db.internal:5432/gov",
    "APP_REDIS_URL": "redis://cache.internal:6379/0",
    "APP_KEYS_DIR": "/etc/gov/keys",
    "APP_MINIPROGRAM_API_URL": "https://mp-api.example.cn",
    "APP_MINIPROGRAM_SECRET": "a-real-secret-from-the-platform",
    # The real outside parties (README "Outside parties"): every one a production deployment names.
    "APP_TENCENT_SECRET_ID": "AKIDz8krbsJ5yKBZQpn74WFkmLPx3example",
    "APP_TENCENT_SECRET_KEY": "Gu5t9xGARNpq86cd98joQYCN3example",
    "APP_SMS_URL": "https://sms.tencentcloudapi.com",
    # The provider's approved template id of every message that may go out by SMS.
    "APP_SMS_TEMPLATE_IDS": json.dumps({name: str(1843210 + n) for n, name in enumerate(texted_templates())}),
    "APP_VOICE_URL": "https://vms.tencentcloudapi.com",
    "APP_IDENTITY_URL": "https://faceid.tencentcloudapi.com",
    "APP_FACE_URL": "https://faceid.tencentcloudapi.com",
    "APP_PUSH_URL": "https://api.jpush.cn",
    "APP_PUSH_APP_KEY": "7d431e42dfa6a6d693ac2d04",
    "APP_PUSH_MASTER_SECRET": "5e987ac6d2e04d95a9d8f0d1",
    "APP_PUSH_APNS_PRODUCTION": "true",
    "APP_SMS_SDK_APP_ID": "1400787878",
    "APP_VOICE_SDK_APP_ID": "1400787879",
    "APP_SMS_SIGN_NAME": "广东政务服务",
    "APP_FACE_RULE_ID": "2",
    "APP_UPLOAD_STORAGE": "s3",
    "APP_S3_ENDPOINT": "https://oss-cn-guangzhou.aliyuncs.com",
    "APP_S3_BUCKET": "gd-gov-app-uploads",
    "APP_S3_ACCESS_KEY": "LTAI5tQ8example",
    "APP_S3_SECRET_KEY": "a-real-secret-from-the-storage-provider",
    "APP_HOTLINE_ROUTING": str(ROOT / "tests" / "hotline" / "operator_routing.json"),  # the operator's own
    "APP_OIDC_ISSUER": "https://gov-app.example.cn",
    "APP_OIDC_PAIRWISE_SECRET": "Zm9yIHRoZSBwYWlyd2lzZSBzdWJqZWN0cyBvbmx5ISE=",
}
STAND_IN_SETTINGS = ["APP_TENCENT_SECRET_ID", "APP_TENCENT_SECRET_KEY", "APP_SMS_URL", "APP_SMS_TEMPLATE_IDS",
                     "APP_VOICE_URL", "APP_IDENTITY_URL", "APP_FACE_URL", "APP_PUSH_URL", "APP_PUSH_APP_KEY",
                     "APP_PUSH_MASTER_SECRET", "APP_PUSH_APNS_PRODUCTION", "APP_SMS_SDK_APP_ID", "APP_VOICE_SDK_APP_ID",
                     "APP_SMS_SIGN_NAME", "APP_FACE_RULE_ID"]


def clean_env(**extra: str) -> dict[str, str]:
    """The process environment without any APP_* variable of the test run, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("APP_")}
    env.update(extra)
    return env


def test_an_empty_environment_gives_the_embedded_defaults():
    settings = Settings.from_env({})
    assert settings.env == "dev"
    assert settings.host == "127.0.0.1" and settings.port == 8000 and settings.workers == 1
    assert settings.redis_url == ""
    assert settings.resolved_database_url == f"sqlite://{Path('data') / 'app.sqlite3'}"
    assert settings.resolved_keys_dir == Path("data") / "keys"
    assert settings.accounts.access_token_ttl == 900 and settings.accounts.otp_ttl == 300
    assert settings.dev_endpoints is True


def test_values_are_read_and_converted_from_the_environment():
    settings = Settings.from_env({"APP_PORT": "9001", "APP_FACE_PASS_SCORE": "0.9", "APP_DATA_DIR": "/srv/gov",
                                  "APP_DATABASE_URL": "postgresql://u:p@db:5432/gov"})
    assert settings.port == 9001
    assert settings.face.pass_score == 0.9
    assert settings.data_dir == Path("/srv/gov")
    assert settings.resolved_keys_dir == Path("/srv/gov/keys")


@pytest.mark.parametrize("url", ["mysql://db:3306/gov", "http://db/gov", "db.internal/gov"])
def test_a_database_url_with_an_unknown_scheme_is_refused(url):
    with pytest.raises(ConfigError) as error:
        Settings.from_env({"APP_DATABASE_URL": url})
    assert "APP_DATABASE_URL" in str(error.value)
    assert "postgres" in str(error.value)  # names what would be accepted


def test_a_database_url_without_a_host_is_refused():
    with pytest.raises(ConfigError) as error:
        Settings.from_env({"APP_DATABASE_URL": "postgres:///gov"})
    assert "APP_DATABASE_URL" in str(error.value) and "no host" in str(error.value)


def test_a_redis_url_with_a_wrong_scheme_is_refused():
    with pytest.raises(ConfigError, match="APP_REDIS_URL"):
        Settings.from_env({"APP_REDIS_URL": "memcached://cache:11211"})


def test_a_redis_cluster_is_named_by_its_scheme():
    assert Settings.from_env({"APP_REDIS_URL": "redis+cluster://127.0.0.1:7000/0"}).redis_url.startswith("redis+cluster")


def test_several_workers_need_redis():
    with pytest.raises(ConfigError) as error:
        Settings.from_env({"APP_WORKERS": "2"})
    assert "APP_REDIS_URL" in str(error.value)
    assert Settings.from_env({"APP_WORKERS": "2", "APP_REDIS_URL": "redis://cache:6379/0"}).workers == 2


def test_a_complete_production_configuration_is_accepted():
    settings = Settings.from_env(PRODUCTION)
    assert settings.production and settings.dev_endpoints is False


@pytest.mark.parametrize("environ, served", [
    ({}, True),  # dev: integrators read /docs
    ({"APP_ENV": "test"}, True),
    ({"APP_DOCS": "off"}, False),
    (PRODUCTION, False),  # production: off unless the operator chooses it
    ({**PRODUCTION, "APP_DOCS": "true"}, True),
    ({**PRODUCTION, "APP_DOCS": "0"}, False),
])
def test_app_docs_serves_the_openapi_document_by_default_outside_production_only(environ, served):
    assert Settings.from_env(environ).serve_docs is served


def test_app_docs_must_be_a_yes_or_no():
    with pytest.raises(ConfigError, match="APP_DOCS"):
        Settings.from_env({"APP_DOCS": "sometimes"})


@pytest.mark.parametrize("missing, says", [
    ("APP_PII_KEY", "APP_PII_KEY"),
    ("APP_DATABASE_URL", "PostgreSQL"),
    ("APP_REDIS_URL", "APP_REDIS_URL"),
    ("APP_KEYS_DIR", "APP_KEYS_DIR"),
    ("APP_MINIPROGRAM_SECRET", "APP_MINIPROGRAM_SECRET"),
    ("APP_MINIPROGRAM_API_URL", "https"),
    ("APP_UPLOAD_STORAGE", "APP_UPLOAD_STORAGE=s3"),
    ("APP_S3_SECRET_KEY", "APP_S3_SECRET_KEY"),
    ("APP_HOTLINE_ROUTING", "APP_HOTLINE_ROUTING must be set in production"),  # not the sample table
])
def test_production_refuses_to_start_without_each_required_part(missing, says):
    environ = {k: v for k, v in PRODUCTION.items() if k != missing}
    with pytest.raises(ConfigError, match=says):
        Settings.from_env(environ)


@pytest.mark.parametrize("name", STAND_IN_SETTINGS)
def test_production_refuses_each_outside_party_left_at_its_stand_in_naming_the_setting(name):
    environ = {k: v for k, v in PRODUCTION.items() if k != name}
    with pytest.raises(ConfigError, match=name):
        Settings.from_env(environ)


@pytest.mark.parametrize("name", ["APP_SMS_URL", "APP_VOICE_URL", "APP_IDENTITY_URL", "APP_FACE_URL", "APP_PUSH_URL"])
def test_production_refuses_a_stand_in_on_loopback_or_plain_http(name):
    for url in ("http://127.0.0.1:8300", "https://localhost:8300", "http://sms.example.cn"):
        with pytest.raises(ConfigError, match=f"{name} is a stand-in"):
            Settings.from_env({**PRODUCTION, name: url})


def test_production_names_each_message_without_an_approved_template_id(tmp_path):
    from app.server import create_app

    settings = Settings.from_env({**PRODUCTION, "APP_SMS_TEMPLATE_IDS": '{"login_code": "1843210"}'})
    with pytest.raises(ConfigError, match="no provider template id for .*family_consent_requested"):
        create_app(settings.with_(data_dir=tmp_path, keys_dir=tmp_path), name="templates_missing")


def test_cli_production_start_with_a_stand_in_exits_non_zero_naming_it(tmp_path):
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    environ = {**PRODUCTION, "APP_KEYS_DIR": str(keys), "APP_FACE_URL": "http://127.0.0.1:8300"}
    done = subprocess.run([str(PYTHON), "-m", "app"], cwd=ROOT, env=clean_env(**environ, APP_DATA_DIR=str(tmp_path)),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "APP_FACE_URL is a stand-in" in done.stderr and "Traceback" not in done.stderr


def test_production_refuses_uploads_sent_to_object_storage_in_the_clear():
    with pytest.raises(ConfigError, match="APP_S3_ENDPOINT must be https"):
        Settings.from_env({**PRODUCTION, "APP_S3_ENDPOINT": "http://oss.internal:9000"})
    assert Settings.from_env({**PRODUCTION, "APP_S3_ENDPOINT": ""}).uploads.storage == "s3"  # the provider's own


def test_production_refuses_the_sample_routing_table_even_when_named():
    with pytest.raises(ConfigError, match="APP_HOTLINE_ROUTING must be set in production"):
        Settings.from_env({**PRODUCTION, "APP_HOTLINE_ROUTING": str(ROOT / "app" / "hotline" / "sample_routing.json")})


def test_production_refuses_sqlite():
    with pytest.raises(ConfigError, match="PostgreSQL"):
        Settings.from_env({**PRODUCTION, "APP_DATABASE_URL": "sqlite:///srv/gov/app.sqlite3"})


def test_a_placeholder_pii_key_is_refused():
    with pytest.raises(ConfigError, match="placeholder"):
        Settings.from_env({"APP_PII_KEY": ZERO_PII_KEY})
    with pytest.raises(ConfigError, match="placeholder"):
        Settings.from_env({**PRODUCTION, "APP_PII_KEY": ZERO_PII_KEY})


@pytest.mark.parametrize("key, says", [("not base64!!", "base64"), ("c2hvcnQ=", "32 bytes")])
def test_a_malformed_pii_key_is_refused(key, says):
    with pytest.raises(ConfigError, match=says):
        Settings.from_env({"APP_PII_KEY": key})


@pytest.mark.parametrize("name, value", [("APP_PORT", "eighty"), ("APP_WORKERS", "2.5"), ("APP_FACE_TIMEOUT", "soon")])
def test_a_value_of_the_wrong_type_is_refused_naming_the_variable(name, value):
    with pytest.raises(ConfigError) as error:
        Settings.from_env({name: value})
    assert name in str(error.value) and repr(value) in str(error.value)


@pytest.mark.parametrize("environ, says", [
    ({"APP_PORT": "0"}, "APP_PORT"),
    ({"APP_WORKERS": "0"}, "APP_WORKERS"),
    ({"APP_ENV": "staging"}, "APP_ENV"),
    ({"APP_OTP_TTL": "0"}, "APP_OTP_TTL"),
    ({"APP_HEALTH_CODE_RENDER_PROCESSES": "-1"}, "APP_HEALTH_CODE_RENDER_PROCESSES"),
    ({"APP_HEALTH_CODE_IMAGE_CACHE": "-1"}, "APP_HEALTH_CODE_IMAGE_CACHE"),
    ({"APP_VOUCHER_PRESENTATIONS_PER_MINUTE": "0"}, "APP_VOUCHER_PRESENTATIONS_PER_MINUTE"),
    ({"APP_VOUCHER_TOKEN_TTL": "600"}, "APP_VOUCHER_TOKEN_TTL"),
    ({"APP_BORDER_PASS_TTL": "10"}, "APP_BORDER_PASS_TTL"),
    ({"APP_REDIS_MAX_CONNECTIONS": "1"}, "APP_REDIS_MAX_CONNECTIONS"),
])
def test_out_of_range_values_are_refused(environ, says):
    with pytest.raises(ConfigError, match=says):
        Settings.from_env(environ)


def test_cli_help_lists_the_serving_options():
    done = subprocess.run([str(PYTHON), "-m", "app", "--help"], cwd=ROOT, env=clean_env(),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for option in ("--host", "--port", "--workers"):
        assert option in done.stdout


def test_cli_refuses_an_incomplete_production_configuration_with_exit_code_2(tmp_path):
    done = subprocess.run([str(PYTHON), "-m", "app"], cwd=ROOT,
                          env=clean_env(APP_ENV="production", APP_DATA_DIR=str(tmp_path)),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "configuration error" in done.stderr
    assert "APP_PII_KEY" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_refuses_a_bad_workers_option_without_redis(tmp_path):
    done = subprocess.run([str(PYTHON), "-m", "app", "--workers", "3"], cwd=ROOT,
                          env=clean_env(APP_DATA_DIR=str(tmp_path)), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "configuration error" in done.stderr and "APP_REDIS_URL" in done.stderr


def test_an_empty_data_dir_variable_is_a_configuration_error_or_the_default():
    """`APP_DATA_DIR=` (set but empty, common in compose files) must not crash with a TypeError."""
    try:
        settings = Settings.from_env({"APP_DATA_DIR": ""})
    except ConfigError as error:
        assert "APP_DATA_DIR" in str(error)
    else:
        assert settings.data_dir == Path("data")


def test_cli_with_an_empty_data_dir_variable_does_not_crash():
    done = subprocess.run([str(PYTHON), "-m", "app", "--help"], cwd=ROOT, env=clean_env(APP_DATA_DIR=""),
                          capture_output=True, text=True, timeout=60)
    assert "Traceback" not in done.stderr, done.stderr[-800:]
    assert (done.returncode, "--port" in done.stdout) == (0, True) or (
        done.returncode == 2 and "configuration error" in done.stderr)


# The groups: each setting keeps its variable, is read by its group, and is set by one name.

def test_every_setting_is_documented_in_the_readme_under_its_variable():
    from app.config import NAMES

    documented = set(re.findall(r"`(APP_[A-Z0-9_]+)`", (Path(__file__).parents[2] / "README.md").read_text("utf-8")))
    assert {f"APP_{name.upper()}" for name in NAMES} - documented == set()


def test_a_group_reads_its_variables_and_the_flat_name_sets_the_same_field():
    environ = {"APP_PAYMENT_TTL": "600", "APP_RECEIPT_VERIFY_BASE": "https://pay.gov.example.cn",
               "APP_PRINT_CARD_TTL": "3600", "APP_HELP_LINE": "12333", "APP_LICENCE_STATUS_PULL_INTERVAL": "3600"}
    settings = Settings.from_env(environ)
    assert (settings.payments.ttl, settings.payments.receipt_verify_base) == (600, "https://pay.gov.example.cn")
    assert (settings.health_code.print_card_ttl, settings.elderly.help_line) == (3600, "12333")
    assert settings.vouchers.licence_status_pull_interval == 3600
    assert Settings(payment_ttl=600, help_line="12333").payments.ttl == 600
    assert settings.with_(payment_ttl=900).payments.ttl == 900 and settings.payments.ttl == 600  # a copy
    assert settings.with_(payment_ttl=900).elderly.help_line == "12333"  # the rest kept


def test_a_change_is_validated_again_and_an_unknown_name_is_refused():
    with pytest.raises(ConfigError, match=r"APP_PAYMENT_TTL must be 60-86400 \(got 5\)"):
        Settings().with_(payment_ttl=5)
    with pytest.raises(ConfigError, match="unknown setting payment_tll"):
        Settings(payment_tll=600)


def test_secrets_stay_out_of_the_settings_repr_and_of_error_messages():
    secret = "a-very-secret-value-of-ours-0000"
    settings = Settings(miniprogram_secret=secret, push_master_secret=secret, tencent_secret_key=secret)
    assert secret not in repr(settings) and secret not in str(settings)
    with pytest.raises(ConfigError) as refused:
        Settings(payment_api_v3_key=secret + "x")
    assert secret not in str(refused.value) and "APP_PAYMENT_API_V3_KEY must be 32 bytes" in str(refused.value)


def test_settings_cannot_be_changed_in_place():
    settings = Settings()
    with pytest.raises(ValueError):
        settings.payments.ttl = 60  # type: ignore[misc]


def test_connection_passwords_stay_out_of_the_settings_repr():
    settings = Settings(database_url="postgres://gov:s3cret-pw@db.internal:5432/gov",
                        redis_url="redis://:s3cret-pw@cache.internal:6379/0")
    assert "s3cret-pw" not in repr(settings)


@pytest.mark.parametrize("name", ["sms_url", "voice_url", "identity_url", "face_url", "push_url"])
def test_an_outside_party_cannot_be_left_without_an_address(name):
    with pytest.raises(ConfigError, match=f"APP_{name.upper()} must be set"):
        Settings(**{name: ""})


def test_a_bound_is_worded_as_declared():
    with pytest.raises(ConfigError, match=r"APP_FACE_PASS_SCORE must be above 0 and at most 1 \(got 0\)"):
        Settings(face_pass_score=0)
    with pytest.raises(ConfigError, match=r"APP_WORKERS must be at least 1 \(got 0\)"):
        Settings(workers=0)
