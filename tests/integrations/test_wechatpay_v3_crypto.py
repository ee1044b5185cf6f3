"""WeChat Pay API v3 cryptography against what WeChat Pay publishes: the message strings of its signing
guides, the fixed-key vectors of its official SDKs (wechatpay-go, wechatpay-java), and the `wechatpayv3`
library signing and decrypting the same inputs; then each kind of bad reply or notice, refused."""

from __future__ import annotations

import base64
import json
import re
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from wechatpayv3 import core as sdk_core
from wechatpayv3 import utils as sdk

from app.integrations.payment_providers import wechatpay_v3 as wx
from app.integrations.payment_providers.wechatpay_v3 import DecryptionFailed, SignatureRejected

# --- published message strings -------------------------------------------------------------------------------
# 签名生成: https://wechatpay-api.gitbook.io/wechatpay-api-v3/qian-ming-zhi-nan-1/qian-ming-sheng-cheng
# (the same example at https://pay.weixin.qq.com/wiki/doc/api_external/ch/wechatpay/wechatpay4_0.shtml)
# 签名验证: https://pay.weixin.qq.com/docs/merchant/development/interface-rules/signature-verification.html
# 小程序调起支付: https://pay.weixin.qq.com/wiki/doc/apiv3/apis/chapter7_2_9.shtml
# APP调起支付: https://pay.weixin.qq.com/wiki/doc/apiv3/apis/chapter5_1_6.shtml


def test_the_request_message_is_the_published_one():
    assert wx.request_message("GET", "/v3/certificates", 1554208460, "593BEC0C930BF1AFEB40B4A08C8FB242", "") == (
        b"GET\n/v3/certificates\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n")


def test_the_reply_message_is_the_published_one():
    body = b'{"code_url":"weixin://wxpay/bizpayurl?pr=JyC91EIz1"}'
    assert wx.response_message("1722850421", "d824f2e086d3c1df967785d13fcd22ef", body) == (
        b'1722850421\nd824f2e086d3c1df967785d13fcd22ef\n{"code_url":"weixin://wxpay/bizpayurl?pr=JyC91EIz1"}\n')


def test_an_empty_body_still_ends_the_message_with_its_own_newline():  # a 204 No Content reply
    assert wx.response_message(1722850421, "n", b"") == b"1722850421\nn\n\n"


def test_a_line_ending_in_a_newline_gets_another():
    assert wx.signing_message("a\n", "b") == b"a\n\nb\n"


def test_the_payment_messages_are_the_published_ones():
    assert wx.signing_message("wx8888888888888888", "1414561699", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
                              "prepay_id=wx201410272009395522657a690389285100") == (
        b"wx8888888888888888\n1414561699\n5K8264ILTKCH16CQ2502SI8ZNMTM67VS\n"
        b"prepay_id=wx201410272009395522657a690389285100\n")
    assert wx.signing_message("wx8888888888888888", "1414561699", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
                              "WX1217752501201407033233368018") == (
        b"wx8888888888888888\n1414561699\n5K8264ILTKCH16CQ2502SI8ZNMTM67VS\nWX1217752501201407033233368018\n")


# --- the official Go SDK's fixed key, certificate and signature ----------------------------------------------
# https://github.com/wechatpay-apiv3/wechatpay-go: utils/pem_test.go (key, certificate, serial),
# utils/sign_test.go and core/auth/verifiers/sha256withrsa_verifier_test.go (the signature of "source").

SDK_PRIVATE_KEY = """-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDZUJN33V+dSfvd
fL0Mu+39XrZNXFFMQSy1V15FpncHeV47SmV0TzTqZc7hHB0ddqAdDi8Z5k3TKqb7
6sOwYr5TcAfuR6PIPaleyE0/0KrljBum2Isa2Nyq7Dgc3ElBQ6YN4l/a+DpvKaz1
FSKmKrhLNskqokWVSlu4g8OlKlbPXQ9ibII14MZRQrrkTmHYHzfi7GXXM0thAKuR
0HNvyhTHBh4/lrYM3GaMvmWwkwvsMavnOex6+eioZHBOb1/EIZ/LzC6zuHArPpyW
3daGaZ1rtQB1vVzTyERAVVFsXXgBHvfFud3w3ShsJYk8JvMwK2RpJ5/gV0QSARcm
LDRUAlPzAgMBAAECggEBAMc7rDeUaXiWv6bMGbZ3BTXpg1FhdddnWUnYE8HfX/km
OFI7XtBHXcgYFpcjYz4D5787pcsk7ezPidAj58zqenuclmjKnUmT3pfbI5eCA2v4
C9HnbYDrmUPK1ZcADtka4D6ScDccpNYNa1g2TFHzkIrEa6H+q7S3O2fqxY/DRVtN
0JIXalBb8daaqL5QVzSmM2BMVnHy+YITJWIkP2a3pKs9C0W65JGDsnG0wVrHinHF
+cnhFZIbaPEI//DAFMc9NkrWOKVRTEgcCUxCFaHOZVNxDWZD7A2ZfJB2rK6eg//y
gEiFDR2h6mTaDowMB4YF2n2dsIO4/dCG8vPHI20jn4ECgYEA/ZGu6lEMlO0XZnam
AZGtiNgLcCfM/C2ZERZE7QTRPZH1WdK92Al9ndldsswFw4baJrJLCmghjF/iG4zi
hhBvLnOLksnZUfjdumxoHDWXo2QBWbI5QsWIE7AuTiWgWj1I7X4fCXSQf6i+M/y2
6TogQ7d0ANpZFyOkTNMn/tiJvLECgYEA22XqlamG/yfAGWery5KNH2DGlTIyd6xJ
WtJ9j3jU99lZ0bCQ5xhiBbU9ImxCi3zgTsoqLWgA/p00HhNFNoUcTl9ofc0G3zwT
D1y0ZzcnVKxGJdZ6ohW52V0hJStAigtjYAsUgjm7//FH7PiQDBDP1Wa6xSRkDQU/
aSbQxvEE8+MCgYEA3bb8krW7opyM0XL9RHH0oqsFlVO30Oit5lrqebS0oHl3Zsr2
ZGgoBlWBsEzk3UqUhTFwm/DhJLTSJ/TQPRkxnhQ5/mewNhS9C7yua7wQkzVmWN+V
YeUGTvDGDF6qDz12/vJAgSwDDRym8x4NcXD5tTw7mmNRcwIfL22SkysThIECgYAV
BgccoEoXWS/HP2/u6fQr9ZIR6eV8Ij5FPbZacTG3LlS1Cz5XZra95UgebFFUHHtC
EY1JHJY7z8SWvTH8r3Su7eWNaIAoFBGffzqqSVazfm6aYZsOvRY6BfqPHT3p/H1h
Tq6AbBffxrcltgvXnCTORjHPglU0CjSxVs7awW3AEQKBgB5WtaC8VLROM7rkfVIq
+RXqE5vtJfa3e3N7W3RqxKp4zHFAPfr82FK5CX2bppEaxY7SEZVvVInKDc5gKdG/
jWNRBmvvftZhY59PILHO2X5vO4FXh7suEjy6VIh0gsnK36mmRboYIBGsNuDHjXLe
BDa+8mDLkWu5nHEhOxy2JJZl
-----END PRIVATE KEY-----
"""
SDK_CERTIFICATE = """-----BEGIN CERTIFICATE-----
MIIDVzCCAj+gAwIBAgIJANfOWdH1ItcBMA0GCSqGSIb3DQEBCwUAMEIxCzAJBgNV
BAYTAlhYMRUwEwYDVQQHDAxEZWZhdWx0IENpdHkxHDAaBgNVBAoME0RlZmF1bHQg
Q29tcGFueSBMdGQwHhcNMjEwNDI3MDg1NTIzWhcNMzEwNDI1MDg1NTIzWjBCMQsw
CQYDVQQGEwJYWDEVMBMGA1UEBwwMRGVmYXVsdCBDaXR5MRwwGgYDVQQKDBNEZWZh
dWx0IENvbXBhbnkgTHRkMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA
2VCTd91fnUn73Xy9DLvt/V62TVxRTEEstVdeRaZ3B3leO0pldE806mXO4RwdHXag
HQ4vGeZN0yqm++rDsGK+U3AH7kejyD2pXshNP9Cq5YwbptiLGtjcquw4HNxJQUOm
DeJf2vg6byms9RUipiq4SzbJKqJFlUpbuIPDpSpWz10PYmyCNeDGUUK65E5h2B83
4uxl1zNLYQCrkdBzb8oUxwYeP5a2DNxmjL5lsJML7DGr5znsevnoqGRwTm9fxCGf
y8wus7hwKz6clt3Whmmda7UAdb1c08hEQFVRbF14AR73xbnd8N0obCWJPCbzMCtk
aSef4FdEEgEXJiw0VAJT8wIDAQABo1AwTjAdBgNVHQ4EFgQUT1c7nd/SUO76HSoZ
umNUJv1R5PwwHwYDVR0jBBgwFoAUT1c7nd/SUO76HSoZumNUJv1R5PwwDAYDVR0T
BAUwAwEB/zANBgkqhkiG9w0BAQsFAAOCAQEAfTjxKRQMzNB/U6ZoCUS+BSNfa2Oh
0plMN6ZuzwiVVZwg1jywvv5yv04koS7Pd4i9E4gt9ZBUQXlpq+A3oOCEEHNRR6b2
kyazGRM7s0OP5X21WrbpSmKmU6K7hkfx30yYs08LVs/Q8DIhvaj1FCFeJzUCzYn/
fHMq4tsbKO0dKAeydPM/nrUZBmaYQVKMVOORGLFjFKVO7JV6Kq/R86ouhjEPgJOe
2xulNBUcjicqtZlBdEh/PWCYP2SpGVDclKm8jeo175T3EVAkdKzzmfpxtMmnMlmq
cTJOU9TxuGvNASMtjj7pYIerTx+xgZDXEVBWFW9PjJ0TV06tCRsgSHItgg==
-----END CERTIFICATE-----
"""
SDK_PUBLIC_KEY = """-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA2VCTd91fnUn73Xy9DLvt
/V62TVxRTEEstVdeRaZ3B3leO0pldE806mXO4RwdHXagHQ4vGeZN0yqm++rDsGK+
U3AH7kejyD2pXshNP9Cq5YwbptiLGtjcquw4HNxJQUOmDeJf2vg6byms9RUipiq4
SzbJKqJFlUpbuIPDpSpWz10PYmyCNeDGUUK65E5h2B834uxl1zNLYQCrkdBzb8oU
xwYeP5a2DNxmjL5lsJML7DGr5znsevnoqGRwTm9fxCGfy8wus7hwKz6clt3Whmmd
a7UAdb1c08hEQFVRbF14AR73xbnd8N0obCWJPCbzMCtkaSef4FdEEgEXJiw0VAJT
8wIDAQAB
-----END PUBLIC KEY-----
"""
SDK_SIGNATURE_OF_SOURCE = (
    "BKyAfU4iMCuvXMXS0Wzam3V/cnxZ+JaqigPM5OhljS2iOT95OO6Fsuml2JkFANJU9K6q9bLlDhPXuoVz+pp4hAm6pHU4ld815U4jsKu1Rky"
    "aII+1CYBUYC8TK0XtJ8FwUXXz8vZHh58rrAVN1XwNyvD1vfpxrMT4SL536GLwvpUHlCqIMzoZUguLli/K8V29QiOhuH6IEqLNJn8e9b3nwN"
    "cQ7be3CzYGpDAKBfDGPCqCv8Rw5zndhlffk2FEA70G4hvMwe51qMN/RAJbknXG23bSlObuTCN7Ndj1aJGH6/L+hdwfLpUtJm4QYVazzW7DFD"
    "27EpSQEqA8bX9+8m1rLg==")


def test_the_sdk_signature_of_its_fixed_key_is_ours():
    assert wx.rsa_sign("source", wx.load_private_key(SDK_PRIVATE_KEY)) == SDK_SIGNATURE_OF_SOURCE


@pytest.mark.parametrize("pem", [SDK_CERTIFICATE, SDK_PUBLIC_KEY])
def test_the_sdk_signature_verifies_with_its_certificate_or_public_key(pem):
    key = wx.load_public_key(pem)
    assert wx.rsa_verify("source", SDK_SIGNATURE_OF_SOURCE, key)
    assert not wx.rsa_verify("wrong source", SDK_SIGNATURE_OF_SOURCE, key)


def test_a_certificate_serial_is_written_as_the_sdk_writes_it():
    assert wx.certificate_serial(wx.load_certificate(SDK_CERTIFICATE)) == "D7CE59D1F522D701"


def test_a_key_without_its_pem_armour_is_refused():
    bare = "".join(SDK_PUBLIC_KEY.splitlines()[1:-1])
    with pytest.raises(ValueError):
        wx.load_public_key(bare)


# --- the official SDKs' AEAD vectors ---------------------------------------------------------------------------
# https://github.com/wechatpay-apiv3/wechatpay-java: core/src/test/java/com/wechat/pay/java/core/cipher/
# AeadAesCipherTest.java and core/model/TestConfig.java (the APIv3 key; a platform-certificate download
# reply whose certificate has serial 5DEA10EF…27EC); wechatpay-go utils/aes_test.go (a 16-byte key).

JAVA_SDK_API_V3_KEY = b"a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb"
JAVA_SDK_CERTIFICATE_CIPHERTEXT = (
    "Mr/AxbvY+WL9hKlD5nIa03LOMPpn5f+CWeNxE4ujl0f5gXZ9XLJ9CldkArCOTsbU62XgKnTc3YvRMZQ7wCmE2fzwmAenAySTYsPm"
    "s72JhggPWfdqVxri9YD5wBYKn8Ck0Fc5JIiVw9WlN2oxHBz83mRVsjoTGC5+cX1CdYqKuZ8pkvi0aCJIq07ZC8MHoTowUz+4jYJy"
    "9XeKqip83Z7BmUYxsePpNM+HtihBqTJIUYXJfX7Col5X0ACsApRoU9l6swfW/kzvqNpDJavhDBGasLrr5822+Fk5nVkcTi53f8Wb"
    "ue7ODWjJxj1yhRYcxFCvXLtpYNB+Qa1aXtrBSdBdBI2p7o+6Imn+auHLBCzkrZqF/yd+d4vTn4tqHPLUj89XcHsMf96uBo3T/HQV"
    "8LEDeIO+6YvOK9FrIDYsvp+imN4n/mnF7eJKo9mpN/QqWJiawrFpAmMMxFKBjIdpgMnVUl3Z11RcWKyfOJ3kcmItTWcnZFNyDgR9"
    "cS0aU6QPlefa3uUW89uzBuHjcFdDl43yU3LE4qZnHLDcDgx4qt0OFCLiy51GXtEpyYs5k99YJBvKK+RyIs4Yc1/smBmClQUhxW+8"
    "bsPNOcXfDvH2yX4YzESoO4TV0RqiCgnsSd4zIFyJPiMKIGzVHiw6Kg0eGCmB4mGHEEZCQ0eN3SSPO0QVjjtBYfgXDZfVHSaAB8Pj"
    "WBVNFimoViZZQrwT6Ygo0LU0Dd8+F5aHFYr4OPHPslr3hrgutEYXDTv1vTA6ABJGqknJ9Y2vtyWpy7aIwxc0kQq/1ezjs+RMVL/L"
    "RpGDnbx1/CGPDjZhYgZypKa55+PDhoaQxqkF3xCLz2DGoNHZYmFqxzAOsAK0vJZw4VcAk6ssbA6YIaMuiemEpxfLC9ZiXtRqsX9s"
    "+GWjjtA8JywOFMO+NKZm9BH/E5YNg2DDD3sHG9Mciwn7yJ6sdf8h2lAWlEExAOeiBNyshOHAQ0/S+x1ncWNiqY+Uh5n0rtonvePV"
    "2MsxVlEWR3AVHn1abcEWkzivd+G5kg7LYO0goqzGClcQfnFfZdO6KwcMXsBCnm9A1Bl4+k5LLokTIYH5/36SRIZ9j0CHGD77BQLE"
    "7x8AlNsoFS2m263tLLq78TFqvZUTIZIQcVIl+NInscS3xQbA38qqFqutCWIwoF1azuJ7woiJyMvnS3xzIpNzP+rzJ8VDXxjLjpEU"
    "BOC9WDs74+QMtsAdmh6g0KDclHEk8WJ4P2bnso4z3VCGoDT5X/0bS1C+jMZMKaOCNB21FZ08qgUHmKeDeg8ylENu+mh2Y/AaEDSG"
    "kGBHIfFbhMYO3uRxhk9hldiHEnHgdkXiVAAUWk/IhtmGijibO/L76vB74Xpes973uK+2iFKgNBk8qTLLZZnuWbcMQuA6VsFULRb/"
    "C+q9B21YuAWPMzvgBwr4EX2m/OpF5w8Q0HL7v1H5H0mIGJbrjnklUPoBYrw30W3uk7yF0KE6sfMukafFx0S9rBOL0RykGDPwC0lH"
    "SNySkXDeM5XvDJ+dtHK+RDwhJR+azfrWAHGMtZcQ+YVamjWVmHxXM03j3GeCXgqae1upwHzkPL5OwojcQ5MQi3Kv/1xtwY0cRN/y"
    "eZTOsXfujtqhkJj/Vltby4lnW4SCj4LjWQF19BY6zhzF4yybBA8bhhtoNP/zx8QkhHAkIROkK2ZVgfocCAPvfQ+vSrsIBO+L5cmg"
    "6mzFn4g84lsHscgXnszIlzUrzx/4Tam0uwuS9J1gddZ0I0QUt9SJzfsoBCTU0OgNMUtXKS5HvgXe7abexMtFH5eulOsAuFZkQ5LY"
    "Ja/m4yHFInXzL/t3hjdTi2NmxUufvYzwIyffRTu5vS9vjscARD9lUQDHFQ/xgWe1i8EkRlrSfjlXt00+4//h2bcJKyTBT3IXwvKN"
    "suY29V9/vU3HkvWKZ99zpSlmcZRuBa1BHbyPEvc0NlqIIoKidxqUvOR64MzudHhAjgWFP+IXojfhS3Gj9OJhBL7s"
)


def test_the_java_sdk_vector_decrypts_and_encrypts_to_the_same_ciphertext():
    resource = {"algorithm": "AEAD_AES_256_GCM", "associated_data": "associatedData", "nonce": "uluk4a9R25RW",
                "ciphertext": "ulwSiIajGClcvcOYvOQ7+l+0PAbzzwI="}
    assert wx.decrypt_resource(JAVA_SDK_API_V3_KEY, resource) == b"message"
    assert wx.encrypt_resource(JAVA_SDK_API_V3_KEY, b"message", associated_data="associatedData",
                               nonce="uluk4a9R25RW")["ciphertext"] == resource["ciphertext"]


def test_the_published_certificate_download_decrypts_to_a_certificate_with_the_published_serial():
    resource = {"algorithm": "AEAD_AES_256_GCM", "associated_data": "certificate", "nonce": "14b16c03dc1b",
                "ciphertext": JAVA_SDK_CERTIFICATE_CIPHERTEXT}
    pem = wx.decrypt_resource(JAVA_SDK_API_V3_KEY, resource)
    assert wx.certificate_serial(wx.load_certificate(pem)) == "5DEA10EF55877E3CF6C33255C2E7DEFFF7E427EC"
    assert isinstance(wx.load_public_key(pem), rsa.RSAPublicKey)


def test_the_go_sdk_vector_opens():
    assert wx.aead_open(b"testAPIv3Key0000", "wCq51qZv4Yfg", "Dl56FrqWQJF1t9LtC3vEUsniZKvbqdR8",
                        "FsdXzxryWfKwvLJKf8LG/ToRPTRh8RN9wROC") == b"Hello World"


# --- our requests --------------------------------------------------------------------------------------------

MERCHANT_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PLATFORM_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
MCHID, MERCHANT_SERIAL, PLATFORM_SERIAL = "1900009191", "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C", "PUB_KEY_ID_01"
ORDER = json.dumps({"appid": "wx8888888888888888", "mchid": MCHID, "description": "粤省事-缴费",
                    "out_trade_no": "YSS20260101000001", "amount": {"total": 100, "currency": "CNY"}},
                   ensure_ascii=False, separators=(",", ":"))
NOW = 1_800_000_000


def authorization(**changes) -> str:
    args = {"method": "POST", "url_path_with_query": "/v3/pay/transactions/jsapi", "body": ORDER, "mchid": MCHID,
            "serial_no": MERCHANT_SERIAL, "private_key": MERCHANT_KEY, "timestamp": NOW,
            "nonce": "593BEC0C930BF1AFEB40B4A08C8FB242"} | changes
    return wx.build_authorization(args.pop("method"), args.pop("url_path_with_query"), args.pop("body"), **args)


def test_the_authorization_header_has_the_published_form():
    header = authorization()
    assert re.fullmatch(r'WECHATPAY2-SHA256-RSA2048 mchid="1900009191",nonce_str="593BEC0C930BF1AFEB40B4A08C8FB242",'
                        r'signature="[A-Za-z0-9+/]{342}==",timestamp="1800000000",'
                        r'serial_no="1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C"', header)
    signature = wx.parse_authorization(header)["signature"]
    message = f"POST\n/v3/pay/transactions/jsapi\n{NOW}\n593BEC0C930BF1AFEB40B4A08C8FB242\n{ORDER}\n"
    assert wx.rsa_verify(message, signature, MERCHANT_KEY.public_key())


def test_the_library_builds_the_same_authorization():
    theirs = sdk.build_authorization("/v3/pay/transactions/jsapi?x=1", "POST", MCHID, MERCHANT_SERIAL, MERCHANT_KEY,
                                     data=ORDER, nonce_str="ABC123")
    timestamp = int(wx.parse_authorization(theirs)["timestamp"])
    assert authorization(url_path_with_query="/v3/pay/transactions/jsapi?x=1", nonce="ABC123",
                         timestamp=timestamp) == theirs


def test_a_get_is_signed_over_an_empty_body_with_its_query():
    header = authorization(method="get", url_path_with_query="/v3/pay/transactions/out-trade-no/YSS1?mchid=1900009191",
                           body=b"")
    message = b"GET\n/v3/pay/transactions/out-trade-no/YSS1?mchid=1900009191\n1800000000\n" \
              b"593BEC0C930BF1AFEB40B4A08C8FB242\n\n"
    assert wx.rsa_verify(message, wx.parse_authorization(header)["signature"], MERCHANT_KEY.public_key())


def merchant_keys(mchid: str, serial: str):
    return MERCHANT_KEY.public_key() if (mchid, serial) == (MCHID, MERCHANT_SERIAL) else None


def test_the_stand_in_accepts_our_request_and_names_the_merchant():
    fields = wx.verify_authorization("POST", "/v3/pay/transactions/jsapi", ORDER.encode(), authorization(),
                                     find_merchant_key=merchant_keys, now=NOW + 10)
    assert fields["mchid"] == MCHID


@pytest.mark.parametrize("header, body, now, reason", [
    (authorization(), ORDER.replace("100", "1"), NOW, "bad_signature"),
    (authorization(serial_no="0000"), ORDER, NOW, "unknown_serial"),
    (authorization(), ORDER, NOW + 301, "stale"),
    ("Bearer x", ORDER, NOW, "missing_header"),
    (authorization().replace(',serial_no="', ',serial="'), ORDER, NOW, "missing_header"),
])
def test_the_stand_in_refuses_each_bad_request(header, body, now, reason):
    with pytest.raises(SignatureRejected) as refused:
        wx.verify_authorization("POST", "/v3/pay/transactions/jsapi", body, header, find_merchant_key=merchant_keys,
                                now=now)
    assert refused.value.reason == reason


def test_the_authorization_fields_may_come_in_any_order():
    fields = wx.parse_authorization(authorization())
    shuffled = "WECHATPAY2-SHA256-RSA2048 " + ",".join(f'{k}="{fields[k]}"' for k in reversed(list(fields)))
    assert wx.parse_authorization(shuffled) == fields


# --- the gateway's replies and notices ---------------------------------------------------------------------------

NOTICE = json.dumps({"id": "EV-2018022511223320873", "create_time": "2026-01-01T10:00:00+08:00",
                     "resource_type": "encrypt-resource", "event_type": "TRANSACTION.SUCCESS", "summary": "支付成功",
                     "resource": {"original_type": "transaction", "algorithm": "AEAD_AES_256_GCM",
                                  "ciphertext": "...", "associated_data": "transaction", "nonce": "fdasflkja484w"}},
                    ensure_ascii=False, separators=(",", ":")).encode()


def platform_keys(serial: str):
    return PLATFORM_KEY.public_key() if serial == PLATFORM_SERIAL else None


def notice_headers(**changes) -> dict[str, str]:
    args = {"serial": PLATFORM_SERIAL, "private_key": PLATFORM_KEY, "timestamp": NOW,
            "nonce": "c5ac7061fccab6bf3e254dcf98995b8c"} | changes
    return wx.signed_headers(NOTICE, **args)


def test_a_genuine_notice_is_accepted_and_its_nonce_kept():
    verified = wx.verify_signature(notice_headers(), NOTICE, platform_keys, now=NOW + 299)
    assert verified == wx.VerifiedSignature(PLATFORM_SERIAL, NOW, "c5ac7061fccab6bf3e254dcf98995b8c")


def test_the_headers_are_found_whatever_their_case():
    lowered = {name.lower(): value for name, value in notice_headers().items()}
    assert wx.verify_signature(lowered, NOTICE, platform_keys, now=NOW).serial == PLATFORM_SERIAL


def test_the_library_verifies_the_stand_ins_signature():
    headers = notice_headers()
    assert sdk.rsa_verify(headers["Wechatpay-Timestamp"], headers["Wechatpay-Nonce"], NOTICE.decode(),
                          headers["Wechatpay-Signature"], PLATFORM_KEY.public_key())


def without(name: str) -> dict[str, str]:
    return {k: v for k, v in notice_headers().items() if k != name}


@pytest.mark.parametrize("headers, body, now, reason", [
    (notice_headers(), NOTICE.replace(b"TRANSACTION.SUCCESS", b"REFUND.SUCCESS"), NOW, "bad_signature"),
    (notice_headers(), NOTICE + b" ", NOW, "bad_signature"),
    (notice_headers(private_key=MERCHANT_KEY), NOTICE, NOW, "bad_signature"),
    (notice_headers() | {"Wechatpay-Signature": "not base64!"}, NOTICE, NOW, "bad_signature"),
    (notice_headers() | {"Wechatpay-Signature-Type": "WECHATPAY2-SM2-WITH-SM3"}, NOTICE, NOW, "bad_signature"),
    (notice_headers(serial="5157F09EFDC096DE15EBE81A47057A7232F1B8E1"), NOTICE, NOW, "unknown_serial"),
    (notice_headers(), NOTICE, NOW + 301, "stale"),
    (notice_headers(), NOTICE, NOW - 301, "stale"),  # signed beyond the window in our future
    (notice_headers() | {"Wechatpay-Timestamp": "1800000000.5"}, NOTICE, NOW, "stale"),
    (without("Wechatpay-Serial"), NOTICE, NOW, "missing_header"),
    (without("Wechatpay-Signature"), NOTICE, NOW, "missing_header"),
    (without("Wechatpay-Timestamp"), NOTICE, NOW, "missing_header"),
    (without("Wechatpay-Nonce"), NOTICE, NOW, "missing_header"),
])
def test_each_bad_notice_is_refused_with_its_reason(headers, body, now, reason):
    with pytest.raises(SignatureRejected) as refused:
        wx.verify_signature(headers, body, platform_keys, now=now)
    assert refused.value.reason == reason
    assert str(refused.value) == reason  # never the body or the signature


def test_the_signature_probe_is_refused_before_any_key_is_looked_up():
    looked_up: list[str] = []
    headers = notice_headers() | {"Wechatpay-Signature": wx.PROBE_PREFIX + notice_headers()["Wechatpay-Signature"]}
    with pytest.raises(SignatureRejected) as refused:
        wx.verify_signature(headers, NOTICE, lambda serial: looked_up.append(serial), now=NOW)
    assert refused.value.reason == "probe" and looked_up == []


def test_the_window_can_be_narrowed():
    with pytest.raises(SignatureRejected):
        wx.verify_signature(notice_headers(), NOTICE, platform_keys, now=NOW + 61, window=60)


# --- encrypted resources -----------------------------------------------------------------------------------------

API_V3_KEY = b"0123456789abcdef0123456789ABCDEF"
TRANSACTION = json.dumps({"out_trade_no": "YSS20260101000001", "trade_state": "SUCCESS",
                          "amount": {"total": 100, "payer_total": 100}}).encode()


def test_a_resource_round_trips_and_the_library_decrypts_ours():
    resource = wx.encrypt_resource(API_V3_KEY, TRANSACTION, associated_data="transaction")
    assert resource["algorithm"] == "AEAD_AES_256_GCM" and len(resource["nonce"]) == 12
    assert wx.decrypt_resource(API_V3_KEY, resource) == TRANSACTION
    assert sdk.aes_decrypt(resource["nonce"], resource["ciphertext"], resource["associated_data"],
                           API_V3_KEY.decode()) == TRANSACTION.decode()


def test_an_empty_associated_data_may_be_absent():
    resource = wx.encrypt_resource(API_V3_KEY, TRANSACTION)
    del resource["associated_data"]
    assert wx.decrypt_resource(API_V3_KEY, resource) == TRANSACTION


def flip_last_byte(ciphertext: str) -> str:
    raw = bytearray(base64.b64decode(ciphertext))
    raw[-1] ^= 1
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize("spoil, key, reason", [
    (lambda r: r | {"ciphertext": flip_last_byte(r["ciphertext"])}, API_V3_KEY, "bad_tag"),
    (lambda r: r | {"associated_data": "refund"}, API_V3_KEY, "bad_tag"),
    (lambda r: r | {"nonce": "000000000000"}, API_V3_KEY, "bad_tag"),
    (lambda r: r, b"0123456789abcdef0123456789ABCDEX", "bad_tag"),
    (lambda r: r | {"ciphertext": "not base64!"}, API_V3_KEY, "malformed"),
    (lambda r: {k: v for k, v in r.items() if k != "nonce"}, API_V3_KEY, "malformed"),
    (lambda r: r | {"algorithm": "AEAD_SM4_GCM"}, API_V3_KEY, "unsupported_algorithm"),
])
def test_a_spoiled_resource_does_not_decrypt(spoil, key, reason):
    resource = spoil(wx.encrypt_resource(API_V3_KEY, TRANSACTION, associated_data="transaction"))
    with pytest.raises(DecryptionFailed) as refused:
        wx.decrypt_resource(key, resource)
    assert refused.value.reason == reason
    assert "YSS" not in str(refused.value)


def test_an_api_v3_key_of_the_wrong_size_is_a_configuration_error():
    resource = wx.encrypt_resource(API_V3_KEY, TRANSACTION)
    with pytest.raises(ValueError):
        wx.decrypt_resource(b"testAPIv3Key0000", resource)


# --- client-side payment calls -----------------------------------------------------------------------------------


def library_sign(lines: list[str]) -> str:
    """The library's own paySign (its Core.sign, behind WeChatPay.sign), without building a client that would fetch certificates."""
    return sdk_core.Core.sign(SimpleNamespace(_private_key=MERCHANT_KEY), lines)


def test_the_request_payment_parameters_and_their_pay_sign_are_the_librarys():
    params = wx.jsapi_request_payment("wx8888888888888888", "wx201410272009395522657a690389285100",
                                      private_key=MERCHANT_KEY, timestamp=1414561699,
                                      nonce="5K8264ILTKCH16CQ2502SI8ZNMTM67VS")
    assert params == {"appId": "wx8888888888888888", "timeStamp": "1414561699",
                      "nonceStr": "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
                      "package": "prepay_id=wx201410272009395522657a690389285100", "signType": "RSA",
                      "paySign": library_sign(["wx8888888888888888", "1414561699", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
                                               "prepay_id=wx201410272009395522657a690389285100"])}


def test_the_app_payment_parameters_and_their_sign_are_the_librarys():
    params = wx.app_pay_request("wx8888888888888888", MCHID, "WX1217752501201407033233368018",
                                private_key=MERCHANT_KEY, timestamp=1414561699, nonce="5K8264ILTKCH16CQ2502SI8ZNMTM67VS")
    assert params == {"appid": "wx8888888888888888", "partnerid": MCHID, "prepayid": "WX1217752501201407033233368018",
                      "package": "Sign=WXPay", "noncestr": "5K8264ILTKCH16CQ2502SI8ZNMTM67VS", "timestamp": "1414561699",
                      "sign": library_sign(["wx8888888888888888", "1414561699", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
                                            "WX1217752501201407033233368018"])}


def test_keys_load_as_the_library_loads_them():
    pem = SDK_PRIVATE_KEY
    assert wx.rsa_sign("m", wx.load_private_key(pem)) == sdk.rsa_sign(sdk.load_private_key(pem), "m")


def test_a_new_nonce_is_32_hex_digits():
    assert re.fullmatch(r"[0-9A-F]{32}", wx.new_nonce())
