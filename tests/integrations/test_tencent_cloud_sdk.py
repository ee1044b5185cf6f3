"""Our TC3-HMAC-SHA256 signer against the provider's official SDK (tencentcloud-sdk-python-common): the
same signature for random requests, and the stand-in answers the official SDK as it answers our client,
so the stand-in checks signatures as the provider does, not as we happen to compute them."""

from __future__ import annotations

import json
import random
import string
from datetime import datetime, timezone

import pytest
from tencentcloud.common.common_client import CommonClient
from tencentcloud.common.credential import Credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.http.request import RequestInternal
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

from app.integrations.tencent_cloud import signature
from app.notifications.sms_templates import DEFAULT_TEMPLATE_IDS
from standins.tencent_cloud.control import TencentStandIn
from tests.integrations.conftest import SECRET_ID, SECRET_KEY, SIGN_NAME, SMS_SDK_APP_ID

SERVICES = (("sms", "2021-01-11"), ("vms", "2020-09-02"), ("faceid", "2018-03-01"))


def sdk_client(service: str, version: str, endpoint: str, secret_key: str = SECRET_KEY,
               protocol: str = "https") -> CommonClient:
    profile = ClientProfile(httpProfile=HttpProfile(protocol=protocol, endpoint=endpoint, reqTimeout=10))
    profile.disable_region_breaker = True
    return CommonClient(service, version, Credential(SECRET_ID, secret_key), "ap-guangzhou", profile)


def random_payload(rng: random.Random) -> str:
    """A JSON body as the SDK sends it (json.dumps defaults: ASCII escapes), with Chinese, digits and nesting."""
    words = ["粤省事", "验证码", "陈嘉欣", "".join(rng.choices(string.printable, k=rng.randint(0, 40)))]
    return json.dumps({"PhoneNumberSet": [f"+86139{rng.randrange(10**8):08d}"], "TemplateParamSet": words,
                       "Nested": {"n": rng.randint(-10**9, 10**9), "f": rng.random(), "ok": rng.random() < 0.5}})


@pytest.mark.parametrize("seed", range(12))
def test_our_signature_is_the_official_sdks(seed: int) -> None:
    rng = random.Random(seed)
    service, version = rng.choice(SERVICES)
    host = rng.choice([f"{service}.tencentcloudapi.com", f"127.0.0.1:{rng.randint(1024, 65535)}"])
    secret_key = "".join(rng.choices(string.ascii_letters + string.digits, k=32))
    timestamp = rng.randint(1_500_000_000, 2_000_000_000)
    payload = random_payload(rng)
    content_type = rng.choice(["application/json", "application/json; charset=utf-8"])
    date = datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d")

    request = RequestInternal(host, "POST", "/", header={"Content-Type": content_type, "Host": host,
                                                                "X-TC-Timestamp": str(timestamp)}, data=payload)
    client = sdk_client(service, version, host, secret_key)
    official = client._get_tc3_signature({}, request, date, service, secret_key)
    assert signature(secret_key, service=service, host=host, payload=payload.encode(), timestamp=timestamp,
                     content_type=content_type) == official


def test_the_stand_in_answers_the_official_sdk(tencent_url: str, tencent_control: TencentStandIn) -> None:
    endpoint = tencent_url.removeprefix("http://")
    client = sdk_client("sms", "2021-01-11", endpoint, protocol="http")
    reply = client.call_json("SendSms", {
        "PhoneNumberSet": ["+8613900001111"], "SmsSdkAppId": SMS_SDK_APP_ID, "SignName": SIGN_NAME,
        "TemplateId": DEFAULT_TEMPLATE_IDS["login_code"], "TemplateParamSet": ["246810", "5"]})
    assert reply["Response"]["SendStatusSet"][0]["Code"] == "Ok"
    (message,) = tencent_control.outbox("13900001111")
    assert "246810" in message.text and message.text.startswith(f"【{SIGN_NAME}】")


def test_the_stand_in_refuses_the_official_sdk_with_a_wrong_key(tencent_url: str, tencent_control: TencentStandIn) -> None:
    endpoint = tencent_url.removeprefix("http://")
    client = sdk_client("faceid", "2018-03-01", endpoint, secret_key="a-guessed-key", protocol="http")
    with pytest.raises(TencentCloudSDKException) as refused:
        client.call_json("IdCardVerification", {"IdCard": "440106198503124526", "Name": "陈嘉欣"})
    assert refused.value.get_code() == "AuthFailure.SignatureFailure"
    assert tencent_control.count("IdCardVerification") == 0
