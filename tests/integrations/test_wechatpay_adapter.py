"""The WeChat Pay API v3 adapter against a gateway of this test's own (an httpx transport holding a platform
key the adapter is pinned to): every request it sends verifies as the gateway checks it, each published
error code becomes the error the payment service expects, and nothing it cannot verify is believed.
Behaviour over the network against the stand-in process is in the provider contract suite."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.integrations import ProviderMisconfigured, ProviderThrottled, ProviderUnavailable
from app.integrations.payment_providers import (INSUFFICIENT_FUNDS, INVALID_REQUEST, ORDER_CLOSED, ORDER_PAID,
                                                NoticeRejected, OrderRequest, ProviderRefused)
from app.integrations.payment_providers import wechatpay_v3 as v3
from app.integrations.payment_providers.wechatpay import WeChatPay, WeChatPayAccount, parse_trade_bill

MERCHANT_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PLATFORM_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PLATFORM_ID = "PUB_KEY_ID_0114232134912410000000000000"
API_V3_KEY = b"adaptertestsapiv3key000000000000"
GATEWAY = "https://api.mch.weixin.qq.com"
ACCOUNT = WeChatPayAccount("1900000001", MERCHANT_KEY, "5157F09EFDC096DE15EBE81A47057A7232F1B8E1", API_V3_KEY,
                           {"jsapi": "wx5a3e9c2b7d1f0a46", "app": "wx8c3f1a2b9d4e6f70"})

Handler = Callable[[httpx.Request], "tuple[int, Any] | httpx.Response"]


def signed(status: int, payload: Any, *, key: rsa.RSAPrivateKey = PLATFORM_KEY, serial: str = PLATFORM_ID,
           at: float | None = None) -> httpx.Response:
    body = b"" if payload is None else json.dumps(payload, ensure_ascii=False).encode()
    headers = v3.signed_headers(body, serial=serial, private_key=key, timestamp=int(at or time.time()),
                                nonce=v3.new_nonce())
    return httpx.Response(status, content=body, headers=headers)


class Gateway:
    """Checks each request's signature as WeChat Pay does, then answers what `handler` says (signed)."""

    def __init__(self, handler: Handler) -> None:
        self.handler, self.requests = handler, []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        target = request.url.raw_path.decode()
        v3.verify_authorization(request.method, target, request.content, request.headers["authorization"],
                                find_merchant_key=lambda mchid, serial: MERCHANT_KEY.public_key()
                                if (mchid, serial) == (ACCOUNT.mchid, ACCOUNT.merchant_serial) else None,
                                now=time.time())
        answer = self.handler(request)
        return answer if isinstance(answer, httpx.Response) else signed(*answer)


def adapter(handler: Handler) -> tuple[WeChatPay, Gateway]:
    gateway = Gateway(handler)
    return WeChatPay(GATEWAY, ACCOUNT, platform_keys={PLATFORM_ID: PLATFORM_KEY.public_key()},
                     transport=httpx.MockTransport(gateway)), gateway


def order(channel: str = "app", payer: str | None = None) -> OrderRequest:
    return OrderRequest("PAY0123456789ABCDEF01234567", 20_000, "交通违法罚款（示例）", "https://gov.example.cn/notify",
                        datetime(2026, 12, 6, 3, 0, tzinfo=timezone.utc), channel, payer)  # type: ignore[arg-type]


TRANSACTION = {"appid": "wx8c3f1a2b9d4e6f70", "mchid": "1900000001", "out_trade_no": "PAY0123456789ABCDEF01234567",
               "transaction_id": "4200000985202612061234567890", "trade_type": "APP", "trade_state": "SUCCESS",
               "trade_state_desc": "支付成功", "success_time": "2026-12-06T10:34:56+08:00",
               "amount": {"total": 20_000, "currency": "CNY", "payer_total": 20_000, "payer_currency": "CNY"}}


async def test_an_app_order_is_sent_as_published_and_its_pay_parameters_are_signed_by_the_merchant():
    provider, gateway = adapter(lambda request: (200, {"prepay_id": "wx06103456789012345678901234"}))
    created = await provider.create_order(order())
    sent = json.loads(gateway.requests[0].content)
    assert gateway.requests[0].url.path == "/v3/pay/transactions/app"
    assert sent == {"appid": "wx8c3f1a2b9d4e6f70", "mchid": "1900000001", "description": "交通违法罚款（示例）",
                    "out_trade_no": "PAY0123456789ABCDEF01234567", "time_expire": "2026-12-06T11:00:00+08:00",
                    "notify_url": "https://gov.example.cn/notify", "amount": {"total": 20_000, "currency": "CNY"}}
    params = created.client_params
    assert params["prepayid"] == created.prepay_id and params["package"] == "Sign=WXPay"
    message = v3.signing_message(params["appid"], params["timestamp"], params["noncestr"], params["prepayid"])
    assert v3.rsa_verify(message, params["sign"], MERCHANT_KEY.public_key())


async def test_a_jsapi_order_names_the_payer_and_wx_request_payment_verifies():
    provider, gateway = adapter(lambda request: (200, {"prepay_id": "wx06103456789012345678901234"}))
    with pytest.raises(ValueError):
        await provider.create_order(order("jsapi"))  # no openid: refused before anything is sent
    assert gateway.requests == []
    created = await provider.create_order(order("jsapi", "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"))
    sent = json.loads(gateway.requests[0].content)
    assert sent["payer"] == {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"} and sent["appid"] == "wx5a3e9c2b7d1f0a46"
    pay = created.client_params
    assert pay["package"] == "prepay_id=wx06103456789012345678901234" and pay["signType"] == "RSA"
    message = v3.signing_message(pay["appId"], pay["timeStamp"], pay["nonceStr"], pay["package"])
    assert v3.rsa_verify(message, pay["paySign"], MERCHANT_KEY.public_key())


async def test_a_query_signs_its_query_string_and_reads_the_transaction_in_fen():
    provider, gateway = adapter(lambda request: (200, TRANSACTION))
    found = await provider.query_order("PAY0123456789ABCDEF01234567")
    assert gateway.requests[0].url.raw_path == b"/v3/pay/transactions/out-trade-no/PAY0123456789ABCDEF01234567?mchid=1900000001"
    assert found is not None and found.status == "paid" and found.amount_fen == 20_000
    assert found.provider_order_id == "4200000985202612061234567890"
    assert found.paid_at == datetime(2026, 12, 6, 2, 34, 56, tzinfo=timezone.utc)


@pytest.mark.parametrize("amount", [200.0, "20000", None, -1])
async def test_an_amount_that_is_not_integer_fen_is_an_unreadable_reply(amount):
    provider, _ = adapter(lambda request: (200, {**TRANSACTION, "amount": {"total": amount, "currency": "CNY"}}))
    with pytest.raises(ProviderUnavailable):
        await provider.query_order("PAY0123456789ABCDEF01234567")


@pytest.mark.parametrize("code", ["ORDER_NOT_EXIST", "ORDERNOTEXIST"])
async def test_both_spellings_of_order_not_exist_mean_no_such_order(code):
    provider, _ = adapter(lambda request: (404, {"code": code, "message": "订单不存在"}))
    assert await provider.query_order("PAY0123456789ABCDEF01234567") is None


@pytest.mark.parametrize("status,code,expected", [
    (400, "ORDERPAID", (ProviderRefused, ORDER_PAID)),
    (400, "ORDER_PAID", (ProviderRefused, ORDER_PAID)),
    (400, "ORDER_CLOSED", (ProviderRefused, ORDER_CLOSED)),
    (403, "NOT_ENOUGH", (ProviderRefused, INSUFFICIENT_FUNDS)),
    (403, "NOTENOUGH", (ProviderRefused, INSUFFICIENT_FUNDS)),
    (400, "PARAM_ERROR", (ProviderRefused, INVALID_REQUEST)),
    (400, "INVALID_REQUEST", (ProviderRefused, INVALID_REQUEST)),
    (429, "FREQUENCY_LIMITED", (ProviderThrottled, "FREQUENCY_LIMITED")),
    (403, "FREQUENCY_LIMITED", (ProviderThrottled, "FREQUENCY_LIMITED")),
    (500, "SYSTEM_ERROR", (ProviderUnavailable, "http_500")),
    (400, "SYSTEMERROR", (ProviderUnavailable, "SYSTEMERROR")),
    (400, "BANKERROR", (ProviderUnavailable, "BANKERROR")),
    (401, "SIGN_ERROR", (ProviderMisconfigured, "SIGN_ERROR")),
    (400, "APPID_MCHID_NOT_MATCH", (ProviderMisconfigured, "APPID_MCHID_NOT_MATCH")),
    (403, "NO_AUTH", (ProviderMisconfigured, "NO_AUTH")),
    (403, "USER_ACCOUNT_ABNORMAL", (ProviderRefused, INVALID_REQUEST)),  # this refund refused, not our set-up
    (403, "OUT_TRADE_NO_USED", (ProviderRefused, INVALID_REQUEST)),
    (403, "RULE_LIMIT", (ProviderRefused, INVALID_REQUEST)),
])
async def test_each_published_error_code_becomes_what_the_payment_service_acts_on(status, code, expected):
    provider, _ = adapter(lambda request: (status, {"code": code, "message": "…"}))
    with pytest.raises(expected[0]) as raised:
        await provider.refund("PAY0123456789ABCDEF01234567", "RF0123456789ABCDEF01234567", 100, 20_000, "退款",
                              "https://gov.example.cn/notify")
    assert raised.value.code == expected[1]
    if isinstance(raised.value, ProviderRefused):
        assert raised.value.provider_code == code


@pytest.mark.parametrize("reply", [
    pytest.param(lambda: httpx.Response(200, json=TRANSACTION), id="unsigned"),
    pytest.param(lambda: signed(200, TRANSACTION, key=rsa.generate_private_key(public_exponent=65537, key_size=2048)),
                 id="signed-by-another-key"),
    pytest.param(lambda: signed(200, TRANSACTION, serial="PUB_KEY_ID_SOMEONE_ELSE"), id="unknown-serial"),
    pytest.param(lambda: signed(200, TRANSACTION, at=time.time() - 301), id="stale"),
    pytest.param(lambda: httpx.Response(400, json={"code": "ORDERPAID", "message": "proxy"}), id="unsigned-error"),
])
async def test_a_reply_the_platform_did_not_sign_is_not_believed(reply):
    provider, _ = adapter(lambda request: reply())
    with pytest.raises(ProviderUnavailable) as raised:
        await provider.query_order("PAY0123456789ABCDEF01234567")
    assert raised.value.code.startswith("reply_signature:")


async def test_a_timeout_is_unavailable_and_says_so():
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    provider, _ = adapter(hang)
    with pytest.raises(ProviderUnavailable) as raised:
        await provider.close_order("PAY0123456789ABCDEF01234567")
    assert raised.value.code == "timeout"


BILL = ("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,"
        "应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,"
        "手续费,费率,订单金额,申请退款金额,费率备注\r\n"
        "`2026-12-05 10:34:56,`wx8c3f1a2b9d4e6f70,`1900000001,`0,`,`4200000985202612051234567890,"
        "`PAYAAAAAAAAAAAAAAAAAAAAAAAA,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`APP,`SUCCESS,`OTHERS,`CNY,`200.00,`0.00,`0,`0,"
        "`0.00,`0.00,`,`,`交通违法罚款（示例）,`,`1.20000,`0.60%,`200.00,`0.00,`\r\n"
        "`2026-12-05 16:00:01,`wx8c3f1a2b9d4e6f70,`1900000001,`0,`,`4200000985202612051234567890,"
        "`PAYAAAAAAAAAAAAAAAAAAAAAAAA,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`APP,`REFUND,`OTHERS,`CNY,`200.00,`0.00,"
        "`50300000382026120500000000001,`RFBBBBBBBBBBBBBBBBBBBBBBBB,`0.01,`0.00,`ORIGINAL,`SUCCESS,`交通违法罚款（示例）,`,"
        "`0.00000,`0.60%,`200.00,`0.01,`\r\n"
        "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\r\n"
        "`2,`200.00,`0.01,`0.00,`1.20000,`200.00,`0.01\r\n")


def test_a_refund_line_counts_only_once_the_money_went_back():
    processing = BILL.replace("`ORIGINAL,`SUCCESS,", "`ORIGINAL,`PROCESSING,")
    assert [line.kind for line in parse_trade_bill(processing)] == ["payment"]
    asked_more = BILL.replace("`0.00000,`0.60%,`200.00,`0.01,`", "`0.00000,`0.60%,`200.00,`0.02,`")
    assert [line.amount_fen for line in parse_trade_bill(asked_more)] == [20_000, 1]  # what was refunded, not asked


def test_a_trade_bill_in_the_published_format_reads_exactly_into_fen():
    lines = parse_trade_bill(BILL)
    assert [(line.kind, line.merchant_order_id, line.merchant_refund_id, line.amount_fen) for line in lines] == [
        ("payment", "PAYAAAAAAAAAAAAAAAAAAAAAAAA", "", 20_000),
        ("refund", "PAYAAAAAAAAAAAAAAAAAAAAAAAA", "RFBBBBBBBBBBBBBBBBBBBBBBBB", 1)]
    assert lines[0].at == datetime(2026, 12, 5, 2, 34, 56, tzinfo=timezone.utc) and lines[0].currency == "CNY"


@pytest.mark.parametrize("amount", ["200", "200.0", "2e2", "200.001", "-1.00", "２００.００"])
def test_a_bill_amount_in_any_other_form_makes_the_bill_unreadable(amount):
    with pytest.raises(ProviderUnavailable):
        parse_trade_bill(BILL.replace("`200.00,`0.00,`0,`0,", f"`{amount},`0.00,`0,`0,").replace(
            ",`200.00,`0.00,`\r\n`2026-12-05 16", f",`{amount},`0.00,`\r\n`2026-12-05 16"))


def bill_gateway(file: bytes, *, download_url: str = f"{GATEWAY}/v3/billdownload/file?token=6XIv5TUPto7pByrTQKhd6kwvyKLG2uY2wMMR8cNXqaA_Cv_isgaUtBzp4QtiozLO",
                 digest: str | None = None) -> Handler:
    def handle(request: httpx.Request) -> Any:
        if request.url.path == "/v3/bill/tradebill":
            return 200, {"hash_type": "SHA1", "hash_value": digest or hashlib.sha1(file).hexdigest(),
                         "download_url": download_url}
        return httpx.Response(200, content=file)  # the file itself is not signed; its SHA-1 is
    return handle


async def test_the_days_bill_is_fetched_with_a_signed_download_and_checked_against_its_sha1():
    provider, gateway = adapter(bill_gateway(BILL.encode()))
    lines = await provider.bill(date(2026, 12, 5))
    assert gateway.requests[0].url.raw_path == b"/v3/bill/tradebill?bill_date=2026-12-05&bill_type=ALL"
    assert gateway.requests[1].url.path == "/v3/billdownload/file" and len(lines) == 2


async def test_a_bill_whose_digest_does_not_match_is_not_used():
    provider, _ = adapter(bill_gateway(BILL.encode(), digest=hashlib.sha1(b"another file").hexdigest()))
    with pytest.raises(ProviderUnavailable) as raised:
        await provider.bill(date(2026, 12, 5))
    assert raised.value.code == "bill_digest"


async def test_a_download_url_on_another_host_is_not_sent_our_signature():
    provider, gateway = adapter(bill_gateway(BILL.encode(), download_url="https://evil.example.com/v3/billdownload/file?token=x"))
    with pytest.raises(ProviderUnavailable):
        await provider.bill(date(2026, 12, 5))
    assert [request.url.host for request in gateway.requests] == ["api.mch.weixin.qq.com"]


async def test_a_download_url_on_the_backup_domain_is_the_same_gateway():
    backup = "https://api2.mch.weixin.qq.com/v3/billdownload/file?token=abc%2Bdef&tartype=GZIP"
    provider, gateway = adapter(bill_gateway(BILL.encode(), download_url=backup))
    assert len(await provider.bill(date(2026, 12, 5))) == 2
    assert gateway.requests[1].url.raw_path == b"/v3/billdownload/file?token=abc%2Bdef&tartype=GZIP"  # signed as given


async def test_a_day_without_a_bill_has_no_lines():
    provider, _ = adapter(lambda request: (400, {"code": "NO_STATEMENT_EXIST", "message": "账单不存在"}))
    assert await provider.bill(date(2026, 12, 5)) == []


def notice(event_type: str, plain: dict[str, Any], *, key: bytes = API_V3_KEY) -> bytes:
    resource = v3.encrypt_resource(key, json.dumps(plain, ensure_ascii=False).encode(), associated_data="transaction")
    return json.dumps({"id": "EV-2018022511223320873", "create_time": "2026-12-06T10:34:57+08:00",
                       "resource_type": "encrypt-resource", "event_type": event_type, "summary": "支付成功",
                       "resource": resource}, ensure_ascii=False).encode()


def headers_for(body: bytes, **overrides: Any) -> dict[str, str]:
    options = {"serial": PLATFORM_ID, "private_key": PLATFORM_KEY, "timestamp": int(time.time()),
               "nonce": v3.new_nonce(), **overrides}
    return v3.signed_headers(body, **options)


async def test_a_genuine_payment_notice_is_read_into_the_order_it_reports():
    provider, _ = adapter(lambda request: (500, None))
    body = notice("TRANSACTION.SUCCESS", TRANSACTION)
    read = await provider.read_notice(headers_for(body), body)
    assert read.event_type == "TRANSACTION.SUCCESS" and read.notice_id == "EV-2018022511223320873"
    assert read.order is not None and read.order.status == "paid" and read.order.amount_fen == 20_000
    assert read.replay_key  # the same delivery posted again can be told apart from a retry (a new nonce)


@pytest.mark.parametrize("change,reason,status", [
    (lambda body: (headers_for(body, private_key=MERCHANT_KEY), body), "signature:bad_signature", 401),
    (lambda body: (headers_for(body, serial="PUB_KEY_ID_0000"), body), "signature:unknown_serial", 401),
    (lambda body: (headers_for(body, timestamp=int(time.time()) - 600), body), "signature:stale", 401),
    (lambda body: ({**headers_for(body), "Wechatpay-Signature": "WECHATPAY/SIGNTEST/abc"}, body), "signature:probe", 401),
    (lambda body: (headers_for(body), body + b" "), "signature:bad_signature", 401),
    (lambda body: ({}, body), "signature:missing_header", 401),
])
async def test_a_notice_the_platform_did_not_sign_is_refused_with_401(change, reason, status):
    provider, _ = adapter(lambda request: (500, None))
    headers, body = change(notice("TRANSACTION.SUCCESS", TRANSACTION))
    with pytest.raises(Exception) as raised:
        await provider.read_notice(headers, body)
    assert (raised.value.code, raised.value.status) == (reason, status)


async def test_a_signed_notice_that_does_not_decrypt_is_refused_with_400():
    provider, _ = adapter(lambda request: (500, None))
    body = notice("TRANSACTION.SUCCESS", TRANSACTION, key=b"another-merchants-apiv3-key-0000")
    with pytest.raises(Exception) as raised:
        await provider.read_notice(headers_for(body), body)
    assert (raised.value.code, raised.value.status) == ("decrypt:bad_tag", 400)


async def test_platform_certificates_are_downloaded_once_and_not_again_for_every_made_up_serial():
    certificate = _certificate(PLATFORM_KEY)
    serial = v3.certificate_serial(certificate)
    pem = certificate.public_bytes(serialization.Encoding.PEM)

    def handle(request: httpx.Request) -> Any:
        if request.url.path == "/v3/certificates":
            resource = v3.encrypt_resource(API_V3_KEY, pem, associated_data="certificate")
            return signed(200, {"data": [{"serial_no": serial, "effective_time": "2026-01-01T00:00:00+08:00",
                                          "expire_time": "2031-01-01T00:00:00+08:00",
                                          "encrypt_certificate": resource}]}, serial=serial)
        return signed(200, TRANSACTION, serial=serial)

    gateway = Gateway(handle)
    provider = WeChatPay(GATEWAY, ACCOUNT, transport=httpx.MockTransport(gateway))
    assert (await provider.query_order("PAY0123456789ABCDEF01234567")).status == "paid"
    assert [r.url.path for r in gateway.requests].count("/v3/certificates") == 1
    for _ in range(5):
        body = notice("TRANSACTION.SUCCESS", TRANSACTION)
        with pytest.raises(NoticeRejected) as refused:
            await provider.read_notice(headers_for(body, serial=f"{_:040X}"), body)
        assert (refused.value.code, refused.value.status) == ("signature:unknown_serial", 401)
    assert [r.url.path for r in gateway.requests].count("/v3/certificates") == 1


@pytest.mark.parametrize("spoil", ["serial", "expired", "signature", "encryption"])
async def test_a_certificate_download_that_does_not_prove_itself_is_not_used(spoil):
    """Each certificate must decrypt with our APIv3 key, carry the serial it is listed under, be valid now, and
    the download must verify with one of the certificates it holds; otherwise no reply is believed."""
    valid = _certificate(PLATFORM_KEY)
    certificate = _certificate(PLATFORM_KEY, days=-1) if spoil == "expired" else valid
    serial = v3.certificate_serial(valid)
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    key = b"another-merchants-apiv3-key-0000" if spoil == "encryption" else API_V3_KEY
    listed = "ABCDEF0123456789ABCDEF0123456789ABCDEF01" if spoil == "serial" else serial
    signer = rsa.generate_private_key(public_exponent=65537, key_size=2048) if spoil == "signature" else PLATFORM_KEY

    def handle(request: httpx.Request) -> Any:
        if request.url.path == "/v3/certificates":
            resource = v3.encrypt_resource(key, pem, associated_data="certificate")
            return signed(200, {"data": [{"serial_no": listed, "effective_time": "2026-01-01T00:00:00+08:00",
                                          "expire_time": "2031-01-01T00:00:00+08:00",
                                          "encrypt_certificate": resource}]}, serial=serial, key=signer)
        return signed(200, TRANSACTION, serial=serial)

    provider = WeChatPay(GATEWAY, ACCOUNT, transport=httpx.MockTransport(Gateway(handle)))
    with pytest.raises(ProviderUnavailable):
        await provider.query_order("PAY0123456789ABCDEF01234567")


def _certificate(key: rsa.RSAPrivateKey, days: int = 365):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com platform certificate (test)")])
    now = datetime.now(timezone.utc)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(0x3775B6A45ACD588826D15E583A95F5DD2C3E9C1A).not_valid_before(now - timedelta(days=400))
            .not_valid_after(now + timedelta(days=days)).sign(key, hashes.SHA256()))
