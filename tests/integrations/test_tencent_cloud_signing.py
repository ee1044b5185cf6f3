"""Tencent Cloud API 3.0 signing (TC3-HMAC-SHA256), against the provider's own published examples, and the
check a stand-in makes of our requests, refusing each kind of bad request with the provider's error code."""

from __future__ import annotations

import json

import pytest

from app.integrations import tencent_cloud
from app.integrations.tencent_cloud import Call, Credentials, SignatureError

# The example of Tencent Cloud's "Signature v3" page: DescribeInstances of CVM, posted at 2019-02-26 00:44:25 +08:00.
EXAMPLE_PAYLOAD = b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
EXAMPLE_TIME = 1551113065
EXAMPLE_CALL = Call("cvm", "cvm.tencentcloudapi.com", "DescribeInstances", "2017-03-12", "ap-guangzhou")


@pytest.mark.parametrize("secret_id, secret_key, published", [
    ("AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE", "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
     "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"),
    ("AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******", "Gu5t9xGARNpq86cd98joQYCN3*******",  # the page's older, masked form
     "2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"),
])
def test_our_signature_is_the_one_the_provider_publishes(secret_id, secret_key, published):
    headers = tencent_cloud.signed_headers(Credentials(secret_id, secret_key), EXAMPLE_CALL, EXAMPLE_PAYLOAD,
                                           EXAMPLE_TIME)
    assert headers == {
        "Authorization": f"TC3-HMAC-SHA256 Credential={secret_id}/2019-02-25/cvm/tc3_request, "
                         f"SignedHeaders=content-type;host, Signature={published}",
        "Content-Type": "application/json; charset=utf-8", "Host": "cvm.tencentcloudapi.com",
        "X-TC-Action": "DescribeInstances", "X-TC-Version": "2017-03-12", "X-TC-Timestamp": "1551113065",
        "X-TC-Region": "ap-guangzhou",
    }


def test_the_secret_key_never_shows_in_a_repr():
    assert "Gu5t9x" not in repr(Credentials("AKIDEXAMPLE", "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"))


SMS = Call("sms", "127.0.0.1:8301", "SendSms", "2021-01-11")
KEYS = {"AKIDsample": "sample-secret-key-for-the-stand-in"}
BODY = json.dumps({"PhoneNumberSet": ["+8613800138000"], "SmsSdkAppId": "1400000000", "TemplateId": "100001",
                   "SignName": "粤省事示例", "TemplateParamSet": ["123456", "5"]}, ensure_ascii=False).encode()


def signed(now: int = 1_800_000_000, secret_key: str = KEYS["AKIDsample"]) -> dict[str, str]:
    return tencent_cloud.signed_headers(Credentials("AKIDsample", secret_key), SMS, BODY, now)


def test_a_stand_in_accepts_our_signed_request_and_names_the_caller():
    assert tencent_cloud.verify(signed(), BODY, KEYS.get, now=1_800_000_010) == "AKIDsample"


@pytest.mark.parametrize("spoil, code", [
    (lambda h, b: (h, b.replace(b"123456", b"654321")), "AuthFailure.SignatureFailure"),
    (lambda h, b: ({**h, "Host": "sms.tencentcloudapi.com"}, b), "AuthFailure.SignatureFailure"),
    (lambda h, b: (signed(secret_key="a-guessed-key"), b), "AuthFailure.SignatureFailure"),
    (lambda h, b: (signed(now=1_800_000_000 - 301), b), "AuthFailure.SignatureExpire"),
    (lambda h, b: ({**h, "Authorization": h["Authorization"].replace("AKIDsample", "AKIDunknown")}, b),
     "AuthFailure.SecretIdNotFound"),
    (lambda h, b: ({**h, "Authorization": "Bearer x"}, b), "AuthFailure.InvalidAuthorization"),
    (lambda h, b: ({k: v for k, v in h.items() if k != "X-TC-Timestamp"}, b), "AuthFailure.InvalidAuthorization"),
    (lambda h, b: ({**h, "X-TC-Timestamp": "1800086400"}, b), "AuthFailure.InvalidAuthorization"),  # another day
])
def test_a_stand_in_refuses_each_bad_request_with_the_providers_code(spoil, code):
    headers, body = spoil(signed(), BODY)
    with pytest.raises(SignatureError) as refused:
        tencent_cloud.verify(headers, body, KEYS.get, now=1_800_000_000)
    assert refused.value.code == code
