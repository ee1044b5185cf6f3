"""The WeChat Pay API v3 stand-in as its own process, spoken to as the real gateway is: requests signed with a
merchant key made here, every reply's platform signature checked against the certificate it hands out, and a
payment notice received on a small HTTP server of this test, verified and decrypted."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import secrets
import sys
import time
from typing import Any, Iterator

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.clock import CHINA_TZ
from app.integrations.payment_providers import wechatpay_v3 as v3
from standins.wechatpay.control import WeChatPayStandIn
from tests.health_code.interop.partner_process import end_now, launch
from tests.integrations.notice_receiver import Receiver

MCHID = "1900000001"
APPID = "wx5a3e9c2b7d1f0a46"  # the mini-program's (JSAPI orders)
APP_APPID = "wx8c0f2e4a6b1d3597"  # the phone app's open-platform appid (APP orders)
API_V3_KEY = "integrationtestsapiv3key00000000"
MERCHANT_SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
MERCHANT_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def standin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("wechatpay")
    public_pem = folder / "merchant_public.pem"
    public_pem.write_bytes(MERCHANT_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    command = [sys.executable, "-m", "standins.wechatpay", "--port", "0", "--mchid", MCHID, "--appid", APPID,
               "--appid", APP_APPID, "--api-v3-key", API_V3_KEY, "--merchant-public-key", str(public_pem),
               "--merchant-serial", MERCHANT_SERIAL, "--retry-intervals", "0.3,0.3"]
    url, process = launch(command, folder / "standin.log", "/_standin/health", what="stand-in WeChat Pay")
    yield url
    end_now(process)


@pytest.fixture
def control(standin_url: str, receiver: Receiver) -> Iterator[WeChatPayStandIn]:
    control = WeChatPayStandIn(standin_url)
    control.reset()
    receiver.drain()
    receiver.answers.clear()
    yield control
    control.reset()
    control.close()


class Gateway:
    """A bare merchant client: signs each request, checks each reply's platform signature."""

    def __init__(self, url: str, platform_pem: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=10)
        certificate = v3.load_certificate(platform_pem)
        self.platform_serial = v3.certificate_serial(certificate)
        self.platform_key = certificate.public_key()

    def find_key(self, serial: str) -> v3.PublicKey | None:
        return self.platform_key if serial == self.platform_serial else None  # type: ignore[return-value]

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, *,
             key: rsa.RSAPrivateKey = MERCHANT_KEY, verify: bool = True) -> httpx.Response:
        content = b"" if body is None else json.dumps(body, ensure_ascii=False).encode()
        authorization = v3.build_authorization(method, path, content, mchid=MCHID, serial_no=MERCHANT_SERIAL,
                                               private_key=key, timestamp=int(time.time()), nonce=v3.new_nonce())
        headers = {"Authorization": authorization, "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        reply = self.client.request(method, path, content=content, headers=headers)
        if verify:
            v3.verify_signature(reply.headers, reply.content, self.find_key, now=time.time())  # raises if not signed
        return reply

    def close(self) -> None:
        self.client.close()


@pytest.fixture
def gateway(standin_url: str, control: WeChatPayStandIn) -> Iterator[Gateway]:
    gateway = Gateway(standin_url, control.platform_certificate_pem())
    yield gateway
    gateway.close()


def trade_no() -> str:
    return "GOV" + secrets.token_hex(8).upper()


def jsapi_order(out_trade_no: str, notify_url: str, total: int = 2500) -> dict[str, Any]:
    return {"appid": APPID, "mchid": MCHID, "description": "粤省事-交通违法罚款", "out_trade_no": out_trade_no,
            "time_expire": "2030-06-08T10:34:56+08:00", "notify_url": notify_url,
            "amount": {"total": total, "currency": "CNY"}, "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}}


def test_a_jsapi_order_is_created_once_queried_paid_and_notified(gateway: Gateway, control: WeChatPayStandIn,
                                                                 receiver: Receiver) -> None:
    number = trade_no()
    order = jsapi_order(number, receiver.url)
    first = gateway.call("POST", "/v3/pay/transactions/jsapi", order)
    assert first.status_code == 200 and first.json()["prepay_id"].startswith("wx")
    again = gateway.call("POST", "/v3/pay/transactions/jsapi", order)
    assert again.json() == first.json()  # the same out_trade_no and body: the same prepay_id

    unpaid = gateway.call("GET", f"/v3/pay/transactions/out-trade-no/{number}?mchid={MCHID}")
    assert unpaid.status_code == 200
    assert (unpaid.json()["trade_state"], unpaid.json()["amount"]["total"]) == ("NOTPAY", 2500)

    control.pay(number)
    headers, body = receiver.next()
    verified = v3.verify_signature(headers, body, gateway.find_key, now=time.time())
    assert verified.serial == gateway.platform_serial
    notice = json.loads(body)
    assert (notice["event_type"], notice["resource_type"]) == ("TRANSACTION.SUCCESS", "encrypt-resource")
    assert notice["create_time"].endswith("+08:00") and notice["id"]
    resource = notice["resource"]
    assert (resource["algorithm"], resource["associated_data"], resource["original_type"]) == (
        "AEAD_AES_256_GCM", "transaction", "transaction")
    transaction = json.loads(v3.decrypt_resource(API_V3_KEY.encode(), resource))
    assert (transaction["out_trade_no"], transaction["trade_state"]) == (number, "SUCCESS")
    assert transaction["amount"] == {"total": 2500, "payer_total": 2500, "currency": "CNY", "payer_currency": "CNY"}
    assert transaction["success_time"].endswith("+08:00") and len(transaction["transaction_id"]) == 28
    assert transaction["payer"] == {"openid": order["payer"]["openid"]}

    paid = gateway.call("GET", f"/v3/pay/transactions/out-trade-no/{number}?mchid={MCHID}").json()
    assert paid["trade_state"] == "SUCCESS" and paid["transaction_id"] == transaction["transaction_id"]
    sent = delivered(control, number)
    assert sent["delivered"] and [a["status"] for a in sent["attempts"]] == [204]

    refused = gateway.call("POST", "/v3/pay/transactions/jsapi", order)
    assert (refused.status_code, refused.json()["code"]) == (400, "ORDERPAID")
    closing = gateway.call("POST", f"/v3/pay/transactions/out-trade-no/{number}/close", {"mchid": MCHID})
    assert (closing.status_code, closing.json()["code"]) == (400, "ORDERPAID")


def app_order(out_trade_no: str, notify_url: str, total: int = 2500) -> dict[str, Any]:
    order = {k: v for k, v in jsapi_order(out_trade_no, notify_url, total).items() if k != "payer"}
    return {**order, "appid": APP_APPID}


def test_an_app_order_is_closed_and_stays_closed(gateway: Gateway, receiver: Receiver) -> None:
    number = trade_no()
    order = app_order(number, receiver.url)
    assert gateway.call("POST", "/v3/pay/transactions/app", order).json()["prepay_id"]
    closed = gateway.call("POST", f"/v3/pay/transactions/out-trade-no/{number}/close", {"mchid": MCHID})
    assert closed.status_code == 204 and closed.content == b""
    view = gateway.call("GET", f"/v3/pay/transactions/out-trade-no/{number}?mchid={MCHID}").json()
    assert view["trade_state"] == "CLOSED" and view["trade_type"] == "APP"
    reopened = gateway.call("POST", "/v3/pay/transactions/app", order)
    assert (reopened.status_code, reopened.json()["code"]) == (400, "ORDER_CLOSED")


def delivered(control: WeChatPayStandIn, number: str, within: float = 10.0) -> dict:
    """The stand-in's record of the order's notice once it has the merchant's answer (the receiver may
    have the notice before the stand-in has read the reply)."""
    deadline = time.monotonic() + within
    while True:
        (sent,) = control.notices(number)
        if sent["delivered"] or time.monotonic() > deadline:
            return sent
        time.sleep(0.05)


def test_a_notice_the_merchant_refuses_is_sent_again_and_twice_sends_the_same_id(
        gateway: Gateway, control: WeChatPayStandIn, receiver: Receiver) -> None:
    number = trade_no()
    gateway.call("POST", "/v3/pay/transactions/jsapi", jsapi_order(number, receiver.url))
    receiver.answers[:] = [500]
    control.pay(number)
    first, second = json.loads(receiver.next()[1]), json.loads(receiver.next()[1])
    assert first == second  # the same notice, signed afresh
    sent = delivered(control, number)
    assert [a["status"] for a in sent["attempts"]] == [500, 204] and sent["delivered"]

    twice = trade_no()
    gateway.call("POST", "/v3/pay/transactions/jsapi", jsapi_order(twice, receiver.url))
    control.pay(twice, notice="twice")
    ids = {json.loads(receiver.next()[1])["id"], json.loads(receiver.next()[1])["id"]}
    assert len(ids) == 1 and len(control.notices(twice)) == 2


def test_a_failed_payment_or_a_silent_one_sends_no_notice(gateway: Gateway, control: WeChatPayStandIn,
                                                          receiver: Receiver) -> None:
    failed, silent = trade_no(), trade_no()
    for number in (failed, silent):
        gateway.call("POST", "/v3/pay/transactions/jsapi", jsapi_order(number, receiver.url))
    assert control.pay(failed, outcome="payerror")["trade_state"] == "PAYERROR"
    assert control.pay(silent, notice="never")["trade_state"] == "SUCCESS"
    # The stand-in logs a notice as it decides to send it, before it goes: none logged, none on its way.
    assert control.notices() == [] and receiver.received.empty()
    state = gateway.call("GET", f"/v3/pay/transactions/out-trade-no/{silent}?mchid={MCHID}").json()["trade_state"]
    assert state == "SUCCESS"  # the settle-by-query path finds it


def test_a_bad_signature_is_refused_with_sign_error(gateway: Gateway) -> None:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    reply = gateway.call("GET", f"/v3/pay/transactions/out-trade-no/{trade_no()}?mchid={MCHID}", key=other_key)
    assert (reply.status_code, reply.json()["code"]) == (401, "SIGN_ERROR")
    unsigned = gateway.client.get(f"/v3/pay/transactions/out-trade-no/{trade_no()}?mchid={MCHID}")
    assert (unsigned.status_code, unsigned.json()["code"]) == (401, "SIGN_ERROR")


def test_every_appid_given_is_the_merchants_and_no_other(gateway: Gateway, receiver: Receiver) -> None:
    as_jsapi = gateway.call("POST", "/v3/pay/transactions/jsapi", {**jsapi_order(trade_no(), receiver.url),
                                                                    "appid": APP_APPID})
    assert as_jsapi.status_code == 200 and as_jsapi.json()["prepay_id"].startswith("wx")
    stranger = gateway.call("POST", "/v3/pay/transactions/app", {**app_order(trade_no(), receiver.url),
                                                                  "appid": "wx0000000000000000"})
    assert (stranger.status_code, stranger.json()["code"]) == (400, "APPID_MCHID_NOT_MATCH")
    other_merchant = gateway.call("POST", "/v3/pay/transactions/app", {**app_order(trade_no(), receiver.url),
                                                                        "mchid": "1900000002"})
    assert (other_merchant.status_code, other_merchant.json()["code"]) == (400, "APPID_MCHID_NOT_MATCH")


def test_an_unknown_order_is_order_not_exist(gateway: Gateway) -> None:
    reply = gateway.call("GET", f"/v3/pay/transactions/out-trade-no/{trade_no()}?mchid={MCHID}")
    assert (reply.status_code, reply.json()["code"]) == (404, "ORDER_NOT_EXIST")


@pytest.mark.parametrize("change", [
    {"out_trade_no": "abc"}, {"out_trade_no": "x" * 33}, {"out_trade_no": "有中文的订单号123"},
    {"amount": {"total": 0, "currency": "CNY"}}, {"amount": {"total": 12.5, "currency": "CNY"}},
    {"amount": {"total": 100, "currency": "USD"}}, {"payer": {}}, {"description": ""},
    {"time_expire": "2030-06-08 10:34:56"},
])
def test_a_malformed_order_is_param_error(gateway: Gateway, receiver: Receiver, change: dict[str, Any]) -> None:
    reply = gateway.call("POST", "/v3/pay/transactions/jsapi", {**jsapi_order(trade_no(), receiver.url), **change})
    assert (reply.status_code, reply.json()["code"]) == (400, "PARAM_ERROR")


def test_the_same_out_trade_no_with_another_body_is_refused(gateway: Gateway, receiver: Receiver) -> None:
    number = trade_no()
    gateway.call("POST", "/v3/pay/transactions/jsapi", jsapi_order(number, receiver.url))
    reply = gateway.call("POST", "/v3/pay/transactions/jsapi", jsapi_order(number, receiver.url, total=2600))
    assert (reply.status_code, reply.json()["code"]) == (400, "INVALID_REQUEST")


def test_down_and_frequency_limited_then_calm(gateway: Gateway, control: WeChatPayStandIn) -> None:
    path = f"/v3/pay/transactions/out-trade-no/{trade_no()}?mchid={MCHID}"
    control.behave("down", count=2)
    assert [gateway.call("GET", path).json()["code"] for _ in range(3)] == [
        "SYSTEM_ERROR", "SYSTEM_ERROR", "ORDER_NOT_EXIST"]
    control.behave("frequency_limited", count=0)
    limited = [gateway.call("GET", path) for _ in range(2)]
    assert {(r.status_code, r.json()["code"]) for r in limited} == {(429, "FREQUENCY_LIMITED")}
    control.calm()
    assert gateway.call("GET", path).status_code == 404


def test_the_platform_certificate_downloads_encrypted_with_the_api_v3_key(gateway: Gateway) -> None:
    (entry,) = gateway.call("GET", "/v3/certificates").json()["data"]
    assert entry["serial_no"] == gateway.platform_serial
    pem = v3.decrypt_resource(API_V3_KEY.encode(), entry["encrypt_certificate"])
    assert v3.certificate_serial(v3.load_certificate(pem)) == gateway.platform_serial


def test_a_late_notice_waits_and_a_slow_gateway_answers_late(gateway: Gateway, control: WeChatPayStandIn,
                                                             receiver: Receiver) -> None:
    number = trade_no()
    gateway.call("POST", "/v3/pay/transactions/jsapi", jsapi_order(number, receiver.url))
    paid_at = time.monotonic()
    control.pay(number, notice="late", delay=0.6)
    assert receiver.received.empty()
    assert json.loads(v3.decrypt_resource(API_V3_KEY.encode(), json.loads(receiver.next()[1])["resource"]))[
        "out_trade_no"] == number
    assert time.monotonic() - paid_at >= 0.5

    control.behave("slow", count=1, delay=0.5)
    started = time.monotonic()
    assert gateway.call("GET", f"/v3/pay/transactions/out-trade-no/{number}?mchid={MCHID}").status_code == 200
    assert time.monotonic() - started >= 0.45


def test_a_late_reply_comes_after_the_work_is_done(gateway: Gateway, control: WeChatPayStandIn,
                                                  receiver: Receiver) -> None:
    """The caller times out, yet the gateway has the order: what a merchant must be ready for."""
    number = trade_no()
    control.behave("late_reply", count=1, delay=1.5)
    impatient = httpx.Client(base_url=gateway.client.base_url, timeout=0.3)
    body = json.dumps(jsapi_order(number, receiver.url), ensure_ascii=False).encode()
    authorization = v3.build_authorization("POST", "/v3/pay/transactions/jsapi", body, mchid=MCHID,
                                           serial_no=MERCHANT_SERIAL, private_key=MERCHANT_KEY,
                                           timestamp=int(time.time()), nonce=v3.new_nonce())
    with pytest.raises(httpx.ReadTimeout):
        impatient.post("/v3/pay/transactions/jsapi", content=body,
                       headers={"Authorization": authorization, "Content-Type": "application/json"})
    impatient.close()
    assert control.order(number)["trade_state"] == "NOTPAY"
    assert gateway.call("GET", f"/v3/pay/transactions/out-trade-no/{number}?mchid={MCHID}").status_code == 200


# --- refunds ------------------------------------------------------------------------------------------------------


def paid_order(gateway: Gateway, control: WeChatPayStandIn, receiver: Receiver, total: int = 2500) -> str:
    """A JSAPI order the payer has paid (its payment notice not sent, so the receiver sees refund notices only)."""
    number = trade_no()
    assert gateway.call("POST", "/v3/pay/transactions/jsapi", jsapi_order(number, receiver.url, total)).status_code == 200
    control.pay(number, notice="never")
    return number


def refund_no() -> str:
    return "RF" + secrets.token_hex(8).upper()


def refund_request(number: str, out_refund_no: str, refund: int, total: int = 2500,
                   notify_url: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"out_trade_no": number, "out_refund_no": out_refund_no, "reason": "重复缴费退回",
                            "amount": {"refund": refund, "total": total, "currency": "CNY"}, **extra}
    if notify_url is not None:
        body["notify_url"] = notify_url
    return body


def settled(control: WeChatPayStandIn, out_refund_no: str, within: float = 5.0) -> dict[str, Any]:
    """The refund once it is no longer PROCESSING (or as it is after `within` s)."""
    deadline = time.monotonic() + within
    while True:
        refund = control.refund(out_refund_no)
        if refund["status"] != "PROCESSING" or time.monotonic() > deadline:
            return refund
        time.sleep(0.05)


def opened(headers: dict[str, str], body: bytes, gateway: Gateway) -> tuple[dict[str, Any], dict[str, Any]]:
    """A notice checked as a merchant must (the platform signature) and its resource decrypted."""
    v3.verify_signature(headers, body, gateway.find_key, now=time.time())
    notice = json.loads(body)
    return notice, json.loads(v3.decrypt_resource(API_V3_KEY.encode(), notice["resource"]))


def test_a_refund_is_processing_then_succeeds_and_is_notified(gateway: Gateway, control: WeChatPayStandIn,
                                                              receiver: Receiver) -> None:
    number = paid_order(gateway, control, receiver)
    transaction_id = control.order(number)["transaction_id"]
    out_refund_no = refund_no()
    request = refund_request(number, out_refund_no, 1000, notify_url=receiver.url)
    reply = gateway.call("POST", "/v3/refund/domestic/refunds", request)
    assert reply.status_code == 200
    refund = reply.json()
    assert refund["refund_id"].isdigit() and len(refund["refund_id"]) == 29 and refund["refund_id"].startswith("50")
    assert refund["create_time"].endswith("+08:00") and "success_time" not in refund
    assert {k: v for k, v in refund.items() if k not in ("refund_id", "create_time")} == {
        "out_refund_no": out_refund_no, "transaction_id": transaction_id, "out_trade_no": number,
        "channel": "ORIGINAL", "user_received_account": "支付用户零钱", "status": "PROCESSING",
        "funds_account": "AVAILABLE",
        "amount": {"total": 2500, "refund": 1000, "payer_total": 2500, "payer_refund": 1000,
                   "settlement_refund": 1000, "settlement_total": 2500, "discount_refund": 0, "currency": "CNY"}}
    again = gateway.call("POST", "/v3/refund/domestic/refunds", request)
    assert again.status_code == 200 and again.json()["refund_id"] == refund["refund_id"]  # a retry: the same refund

    notice, plaintext = opened(*receiver.next(), gateway)
    assert (notice["event_type"], notice["summary"], notice["resource_type"]) == (
        "REFUND.SUCCESS", "退款成功", "encrypt-resource")
    assert (notice["resource"]["associated_data"], notice["resource"]["original_type"]) == ("refund", "refund")
    assert plaintext["success_time"].endswith("+08:00")
    assert {k: v for k, v in plaintext.items() if k != "success_time"} == {
        "mchid": MCHID, "out_trade_no": number, "transaction_id": transaction_id, "out_refund_no": out_refund_no,
        "refund_id": refund["refund_id"], "refund_status": "SUCCESS", "user_received_account": "支付用户零钱",
        "amount": {"total": 2500, "refund": 1000, "payer_total": 2500, "payer_refund": 1000}}

    queried = gateway.call("GET", f"/v3/refund/domestic/refunds/{out_refund_no}").json()
    assert (queried["status"], queried["success_time"]) == ("SUCCESS", plaintext["success_time"])
    order = gateway.call("GET", f"/v3/pay/transactions/out-trade-no/{number}?mchid={MCHID}").json()
    assert (order["trade_state"], order["trade_state_desc"]) == ("REFUND", "转入退款")
    (sent,) = control.notices(out_refund_no=out_refund_no)
    assert (sent["out_trade_no"], sent["event_type"], sent["notify_url"]) == (number, "REFUND.SUCCESS", receiver.url)

    other_body = refund_request(number, out_refund_no, 900, notify_url=receiver.url)
    refused = gateway.call("POST", "/v3/refund/domestic/refunds", other_body)
    assert (refused.status_code, refused.json()["code"]) == (400, "INVALID_REQUEST")
    assert gateway.call("POST", "/v3/refund/domestic/refunds", request).json()["status"] == "SUCCESS"


def test_a_refund_by_transaction_id_and_refunds_up_to_the_total(gateway: Gateway, control: WeChatPayStandIn,
                                                               receiver: Receiver) -> None:
    number = paid_order(gateway, control, receiver)
    transaction_id = control.order(number)["transaction_id"]
    control.next_refunds(outcome="processing")
    first = refund_no()
    by_id = {k: v for k, v in refund_request(number, first, 2000).items() if k != "out_trade_no"}
    reply = gateway.call("POST", "/v3/refund/domestic/refunds", {**by_id, "transaction_id": transaction_id})
    assert (reply.status_code, reply.json()["out_trade_no"]) == (200, number)
    over = gateway.call("POST", "/v3/refund/domestic/refunds", refund_request(number, refund_no(), 600))
    assert (over.status_code, over.json()["code"]) == (400, "INVALID_REQUEST")  # 2000 processing + 600 > 2500
    assert control.finish_refund(first, "closed")["status"] == "CLOSED"
    second = gateway.call("POST", "/v3/refund/domestic/refunds", refund_request(number, refund_no(), 2500))
    assert (second.status_code, second.json()["status"]) == (200, "PROCESSING")  # a closed refund frees its amount
    last = gateway.call("POST", "/v3/refund/domestic/refunds", refund_request(number, refund_no(), 1))
    assert (last.status_code, last.json()["code"]) == (400, "INVALID_REQUEST")


def test_refusals_of_a_refund_request(gateway: Gateway, control: WeChatPayStandIn, receiver: Receiver) -> None:
    unknown = gateway.call("POST", "/v3/refund/domestic/refunds", refund_request(trade_no(), refund_no(), 100))
    assert (unknown.status_code, unknown.json()["code"]) == (404, "RESOURCE_NOT_EXISTS")
    unpaid = trade_no()
    gateway.call("POST", "/v3/pay/transactions/jsapi", jsapi_order(unpaid, receiver.url))
    not_paid = gateway.call("POST", "/v3/refund/domestic/refunds", refund_request(unpaid, refund_no(), 100))
    assert (not_paid.status_code, not_paid.json()["code"]) == (400, "INVALID_REQUEST")
    number = paid_order(gateway, control, receiver)
    wrong_total = gateway.call("POST", "/v3/refund/domestic/refunds",
                               refund_request(number, refund_no(), 100, total=2600))
    assert (wrong_total.status_code, wrong_total.json()["code"]) == (400, "PARAM_ERROR")
    missing = gateway.call("GET", f"/v3/refund/domestic/refunds/{refund_no()}")
    assert (missing.status_code, missing.json()["code"]) == (404, "RESOURCE_NOT_EXISTS")
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    unsigned = gateway.call("POST", "/v3/refund/domestic/refunds", refund_request(number, refund_no(), 100),
                            key=other_key)
    assert (unsigned.status_code, unsigned.json()["code"]) == (401, "SIGN_ERROR")
    assert control.notices() == []


@pytest.mark.parametrize("change", [
    {"out_refund_no": ""}, {"out_refund_no": "R" * 65}, {"out_refund_no": "退款单0001"}, {"out_refund_no": "RF 01"},
    {"reason": "因" * 81}, {"notify_url": "ftp://example.com/notify"}, {"funds_account": "UNAVAILABLE"},
    {"amount": {"refund": 0, "total": 2500, "currency": "CNY"}},
    {"amount": {"refund": 10.5, "total": 2500, "currency": "CNY"}},
    {"amount": {"refund": "100", "total": 2500, "currency": "CNY"}},
    {"amount": {"refund": 100, "total": 2500}}, {"amount": {"refund": 100, "total": 2500, "currency": "USD"}},
    {"out_trade_no": None},
])
def test_a_malformed_refund_request_is_param_error(gateway: Gateway, control: WeChatPayStandIn,
                                                  receiver: Receiver, change: dict[str, Any]) -> None:
    number = paid_order(gateway, control, receiver)
    body = {k: v for k, v in {**refund_request(number, refund_no(), 100), **change}.items() if v is not None}
    reply = gateway.call("POST", "/v3/refund/domestic/refunds", body)
    assert (reply.status_code, reply.json()["code"]) == (400, "PARAM_ERROR")


def test_a_refund_held_processing_ends_abnormal_closed_or_silently(gateway: Gateway, control: WeChatPayStandIn,
                                                                  receiver: Receiver) -> None:
    number = paid_order(gateway, control, receiver)
    control.next_refunds(outcome="processing")
    held = refund_no()
    gateway.call("POST", "/v3/refund/domestic/refunds", refund_request(number, held, 500, notify_url=receiver.url))
    # A refund asked for after it, planned to close after the usual delay (and telling no one), has closed:
    # by then the held one would have ended too, were it not held.
    control.next_refunds(outcome="closed")
    witness = refund_no()
    gateway.call("POST", "/v3/refund/domestic/refunds", refund_request(number, witness, 500))
    assert settled(control, witness)["status"] == "CLOSED"
    assert control.refund(held)["status"] == "PROCESSING" and control.notices(out_refund_no=held) == []
    assert receiver.received.empty()
    control.finish_refund(held, "abnormal")
    notice, plaintext = opened(*receiver.next(), gateway)
    assert (notice["event_type"], notice["summary"], plaintext["refund_status"]) == (
        "REFUND.ABNORMAL", "退款异常", "ABNORMAL")
    assert "success_time" not in plaintext
    queried = gateway.call("GET", f"/v3/refund/domestic/refunds/{held}").json()
    assert queried["status"] == "ABNORMAL" and "success_time" not in queried
    order = gateway.call("GET", f"/v3/pay/transactions/out-trade-no/{number}?mchid={MCHID}").json()
    assert order["trade_state"] == "SUCCESS"  # no refund succeeded
    with pytest.raises(httpx.HTTPStatusError) as again:
        control.finish_refund(held, "abnormal")
    assert again.value.response.status_code == 409
    # The merchant has the abnormal refund paid out another way (发起异常退款): it ends SUCCESS, and is final.
    control.finish_refund(held, "success")
    notice, plaintext = opened(*receiver.next(), gateway)
    assert (notice["event_type"], plaintext["refund_status"]) == ("REFUND.SUCCESS", "SUCCESS")
    with pytest.raises(httpx.HTTPStatusError) as ended:
        control.finish_refund(held, "closed")
    assert ended.value.response.status_code == 409

    control.next_refunds(outcome="closed", delay=0.05)
    closed = refund_no()
    gateway.call("POST", "/v3/refund/domestic/refunds", refund_request(number, closed, 500, notify_url=receiver.url))
    notice, plaintext = opened(*receiver.next(), gateway)
    assert (notice["event_type"], notice["summary"], plaintext["out_refund_no"], plaintext["refund_status"]) == (
        "REFUND.CLOSED", "退款关闭", closed, "CLOSED")

    control.next_refunds(notice="never", delay=0.05)
    silent = refund_no()
    gateway.call("POST", "/v3/refund/domestic/refunds", refund_request(number, silent, 500, notify_url=receiver.url))
    assert settled(control, silent)["status"] == "SUCCESS"
    assert control.notices(out_refund_no=silent) == [] and receiver.received.empty()  # none logged, none on its way


def test_a_refund_notice_sent_twice_carries_one_id(gateway: Gateway, control: WeChatPayStandIn,
                                                  receiver: Receiver) -> None:
    number = paid_order(gateway, control, receiver)
    control.next_refunds(notice="twice", delay=0.05)
    out_refund_no = refund_no()
    gateway.call("POST", "/v3/refund/domestic/refunds",
                 refund_request(number, out_refund_no, 2500, notify_url=receiver.url))
    first, second = json.loads(receiver.next()[1]), json.loads(receiver.next()[1])
    assert first["id"] == second["id"] and first["event_type"] == "REFUND.SUCCESS"
    assert len(control.notices(out_refund_no=out_refund_no)) == 2


def test_not_enough_refuses_refunds_only(gateway: Gateway, control: WeChatPayStandIn, receiver: Receiver) -> None:
    number = paid_order(gateway, control, receiver)
    control.behave("not_enough", count=1)
    order = gateway.call("GET", f"/v3/pay/transactions/out-trade-no/{number}?mchid={MCHID}")
    assert order.status_code == 200  # other calls pass, and do not use up the count
    refused = gateway.call("POST", "/v3/refund/domestic/refunds", refund_request(number, refund_no(), 100))
    assert refused.status_code == 403
    assert refused.json() == {"code": "NOT_ENOUGH", "message": "基本账户余额不足，请充值后重新发起"}
    accepted = gateway.call("POST", "/v3/refund/domestic/refunds", refund_request(number, refund_no(), 100))
    assert (accepted.status_code, accepted.json()["status"]) == (200, "PROCESSING")


def test_bad_signature_replies_do_not_verify(gateway: Gateway, control: WeChatPayStandIn) -> None:
    path = f"/v3/pay/transactions/out-trade-no/{trade_no()}?mchid={MCHID}"
    control.behave("bad_signature", count=2)
    for _ in range(2):
        reply = gateway.call("GET", path, verify=False)
        assert (reply.status_code, reply.json()["code"]) == (404, "ORDER_NOT_EXIST")  # the answer itself as usual
        assert reply.headers["Wechatpay-Serial"] == gateway.platform_serial and reply.headers["Wechatpay-Signature"]
        with pytest.raises(v3.SignatureRejected) as rejected:
            v3.verify_signature(reply.headers, reply.content, gateway.find_key, now=time.time())
        assert rejected.value.reason == "bad_signature"
    assert gateway.call("GET", path).status_code == 404  # verifies again



# --- trade bills --------------------------------------------------------------------------------------------------

ALL_COLUMNS = ("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,"
               "应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,"
               "手续费,费率,订单金额,申请退款金额,费率备注")
SUCCESS_COLUMNS = ("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,"
                   "应结订单金额,代金券金额,商品名称,商户数据包,手续费,费率,订单金额,费率备注")
REFUND_COLUMNS = ("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,"
                  "应结订单金额,代金券金额,退款申请时间,退款成功时间,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,"
                  "商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注")
SUMMARY_COLUMNS = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"


def bill_time(rfc3339: str) -> str:
    """An RFC 3339 time (+08:00, as the gateway writes them) as the bill writes it."""
    return dt.datetime.fromisoformat(rfc3339).strftime("%Y-%m-%d %H:%M:%S")


def refunded(gateway: Gateway, control: WeChatPayStandIn, number: str, refund: int, total: int = 2500) -> dict:
    out_refund_no = refund_no()
    gateway.call("POST", "/v3/refund/domestic/refunds", refund_request(number, out_refund_no, refund, total))
    done = settled(control, out_refund_no)
    assert done["status"] == "SUCCESS"
    return done


def bill(gateway: Gateway, day: str, bill_type: str | None = None, tar_type: str | None = None) -> tuple[dict, bytes]:
    """Apply for a trade bill and download it: the signed answer and the file's bytes."""
    query = f"bill_date={day}" + (f"&bill_type={bill_type}" if bill_type else "") + (
        f"&tar_type={tar_type}" if tar_type else "")
    applied = gateway.call("GET", f"/v3/bill/tradebill?{query}")
    assert applied.status_code == 200, applied.text
    answer = applied.json()
    download = downloaded(gateway, answer["download_url"])
    assert download.status_code == 200
    return answer, download.content


def downloaded(gateway: Gateway, download_url: str) -> httpx.Response:
    """GET a download_url, the request signed as any (the reply is not: it is checked by its SHA1)."""
    url = httpx.URL(download_url)
    assert (url.scheme, url.host, url.port) == (gateway.client.base_url.scheme, gateway.client.base_url.host,
                                                gateway.client.base_url.port)
    return gateway.call("GET", url.raw_path.decode("ascii"), verify=False)


def read_bill(content: bytes) -> tuple[str, list[dict[str, str]], list[str]]:
    """The header line, each data line by column (backticks checked and taken off) and the summary values."""
    text = content.decode("utf-8")
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")  # every line ends with CRLF
    header, *data, summary_header, summary = text[:-2].split("\r\n")
    assert summary_header == SUMMARY_COLUMNS
    columns = header.split(",")
    rows = []
    for line in data:
        values = line.split(",")
        assert len(values) == len(columns) and all(value.startswith("`") for value in values), line
        rows.append(dict(zip(columns, (value[1:] for value in values))))
    totals = summary.split(",")
    assert len(totals) == 7 and all(value.startswith("`") for value in totals), summary
    return header, rows, [value[1:] for value in totals]


def assert_the_payment_line(rows: list[dict[str, str]], fine: str, paid: dict) -> None:
    (payment,) = [row for row in rows if row["商户订单号"] == fine and row["交易状态"] == "SUCCESS"]
    assert payment == {
        "交易时间": bill_time(paid["success_time"]), "公众账号ID": APPID, "商户号": MCHID, "特约商户号": "0", "设备号": "",
        "微信订单号": paid["transaction_id"], "商户订单号": fine, "用户标识": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
        "交易类型": "JSAPI", "交易状态": "SUCCESS", "付款银行": "OTHERS", "货币种类": "CNY", "应结订单金额": "25.00",
        "代金券金额": "0.00", "微信退款单号": "0", "商户退款单号": "0", "退款金额": "0.00", "充值券退款金额": "0.00",
        "退款类型": "", "退款状态": "", "商品名称": "粤省事-交通违法罚款", "商户数据包": "", "手续费": "0.15000",
        "费率": "0.60%", "订单金额": "25.00", "申请退款金额": "0.00", "费率备注": ""}


def assert_the_app_payment_line(rows: list[dict[str, str]], small: str, app_paid: dict) -> None:
    (app_line,) = [row for row in rows if row["商户订单号"] == small]
    assert (app_line["公众账号ID"], app_line["交易类型"], app_line["应结订单金额"], app_line["手续费"]) == (
        APP_APPID, "APP", "1.50", "0.01000")  # 0.9 fen of fee rounds to 1
    assert app_line["用户标识"] == app_paid["payer"]["openid"] and app_line["用户标识"].startswith("o")
    assert app_line["商户数据包"] == "区县:越秀"


def assert_the_refund_line(rows: list[dict[str, str]], fine: str, paid: dict, refund: dict) -> None:
    (refund_line,) = [row for row in rows if row["交易状态"] == "REFUND"]
    assert {k: refund_line[k] for k in ("交易时间", "微信订单号", "商户订单号", "应结订单金额", "微信退款单号", "商户退款单号",
                                        "退款金额", "退款类型", "退款状态", "手续费", "订单金额", "申请退款金额")} == {
        "交易时间": bill_time(refund["success_time"]), "微信订单号": paid["transaction_id"], "商户订单号": fine,
        "应结订单金额": "0.00", "微信退款单号": refund["refund_id"], "商户退款单号": refund["out_refund_no"],
        "退款金额": "10.00", "退款类型": "ORIGINAL", "退款状态": "SUCCESS", "手续费": "-0.06000", "订单金额": "0.00",
        "申请退款金额": "10.00"}


def assert_downloads_again_unsigned(gateway: Gateway, download_url: str, content: bytes) -> None:
    downloaded_again = downloaded(gateway, download_url)
    assert downloaded_again.content == content  # the link answers until it expires
    for name in ("Wechatpay-Signature", "Wechatpay-Serial", "Wechatpay-Timestamp", "Wechatpay-Nonce"):
        assert name not in downloaded_again.headers
    assert downloaded_again.headers["content-type"] == "text/plain; charset=utf-8"


def test_a_trade_bill_lists_the_days_payments_and_refunds(gateway: Gateway, control: WeChatPayStandIn,
                                                         receiver: Receiver, standin_url: str) -> None:
    control.next_refunds(delay=0.05)
    fine = paid_order(gateway, control, receiver)
    small = trade_no()
    gateway.call("POST", "/v3/pay/transactions/app", {**app_order(small, receiver.url, total=150), "attach": "区县:越秀"})
    control.pay(small, notice="never")
    refund = refunded(gateway, control, fine, 1000)
    paid, app_paid = control.order(fine), control.order(small)
    day = paid["success_time"][:10]

    answer, content = bill(gateway, day)
    assert list(answer) == ["hash_type", "hash_value", "download_url"] and answer["hash_type"] == "SHA1"
    assert answer["download_url"].startswith(f"{standin_url}/v3/billdownload/file?token=")
    assert hashlib.sha1(content).hexdigest() == answer["hash_value"]
    header, rows, totals = read_bill(content)
    assert header == ALL_COLUMNS

    assert_the_payment_line(rows, fine, paid)
    assert_the_app_payment_line(rows, small, app_paid)
    assert_the_refund_line(rows, fine, paid, refund)
    assert len(rows) == 3
    assert totals == ["3", "26.50", "10.00", "0.00", "0.10000", "26.50", "10.00"]  # fees 0.15 + 0.01 - 0.06

    assert_downloads_again_unsigned(gateway, answer["download_url"], content)


def test_success_and_refund_bills_have_their_own_columns_and_gzip_hashes_the_bill(
        gateway: Gateway, control: WeChatPayStandIn, receiver: Receiver) -> None:
    control.next_refunds(delay=0.05)
    number = paid_order(gateway, control, receiver)
    refund = refunded(gateway, control, number, 2500)
    paid = control.order(number)
    day = paid["success_time"][:10]

    header, rows, totals = read_bill(bill(gateway, day, "SUCCESS")[1])
    assert header == SUCCESS_COLUMNS
    assert [(row["商户订单号"], row["交易状态"], row["应结订单金额"], row["订单金额"]) for row in rows] == [
        (number, "SUCCESS", "25.00", "25.00")]
    assert totals == ["1", "25.00", "0.00", "0.00", "0.15000", "25.00", "0.00"]

    header, rows, totals = read_bill(bill(gateway, day, "REFUND")[1])
    assert header == REFUND_COLUMNS
    (line,) = rows
    assert (line["交易时间"], line["退款申请时间"], line["退款成功时间"]) == (
        bill_time(paid["success_time"]), bill_time(refund["create_time"]), bill_time(refund["success_time"]))
    assert (line["交易状态"], line["退款金额"], line["申请退款金额"], line["手续费"]) == ("REFUND", "25.00", "25.00",
                                                                                        "-0.15000")
    assert totals == ["1", "0.00", "25.00", "0.00", "-0.15000", "0.00", "25.00"]

    answer, packed = bill(gateway, day, "ALL", "GZIP")
    assert packed[:2] == b"\x1f\x8b"
    plain = gzip.decompress(packed)
    assert hashlib.sha1(plain).hexdigest() == answer["hash_value"]  # the hash is of the bill, unzipped
    assert read_bill(plain)[0] == ALL_COLUMNS and len(read_bill(plain)[1]) == 2


@pytest.mark.parametrize("query", ["bill_date=2024-13-01", "bill_date=20240601", "bill_date=2024-6-1", "bill_type=ALL",
                                   "bill_date=2024-06-01&bill_type=DAILY", "bill_date=2024-06-01&tar_type=ZIP"])
def test_a_malformed_bill_request_is_param_error(gateway: Gateway, query: str) -> None:
    reply = gateway.call("GET", f"/v3/bill/tradebill?{query}")
    assert (reply.status_code, reply.json()["code"]) == (400, "PARAM_ERROR")


def test_a_day_without_lines_has_no_bill_and_a_bad_token_no_file(gateway: Gateway, control: WeChatPayStandIn,
                                                                  receiver: Receiver) -> None:
    empty = gateway.call("GET", "/v3/bill/tradebill?bill_date=2020-01-01")
    assert (empty.status_code, empty.json()) == (400, {"code": "NO_STATEMENT_EXIST", "message": "账单不存在"})
    day = control.order(paid_order(gateway, control, receiver))["success_time"][:10]
    no_refunds = gateway.call("GET", f"/v3/bill/tradebill?bill_date={day}&bill_type=REFUND")
    assert (no_refunds.status_code, no_refunds.json()["code"]) == (400, "NO_STATEMENT_EXIST")

    unknown = gateway.call("GET", "/v3/billdownload/file?token=" + "x" * 64)  # an error is signed, as any
    assert (unknown.status_code, unknown.json()["code"]) == (400, "PARAM_ERROR")
    answer, _ = bill(gateway, day)
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    unsigned = gateway.call("GET", httpx.URL(answer["download_url"]).raw_path.decode(), key=other_key)
    assert (unsigned.status_code, unsigned.json()["code"]) == (401, "SIGN_ERROR")
    control.reset()
    gone = gateway.call("GET", httpx.URL(answer["download_url"]).raw_path.decode())
    assert (gone.status_code, gone.json()["code"]) == (400, "PARAM_ERROR")


def test_bill_changes_alter_hide_and_add_lines_until_cleared(gateway: Gateway, control: WeChatPayStandIn,
                                                            receiver: Receiver) -> None:
    control.next_refunds(delay=0.05)
    altered, hidden, partly = (paid_order(gateway, control, receiver, total) for total in (2500, 1000, 500))
    refund = refunded(gateway, control, altered, 1000)
    day = control.order(altered)["success_time"][:10]
    control.change_bill(alter={altered: 2400, refund["out_refund_no"]: 900}, hide=[hidden])
    yesterday = (dt.datetime.fromisoformat(f"{day}T12:00:00+08:00") - dt.timedelta(days=1)).astimezone(CHINA_TZ)
    changes = control.change_bill(add=[
        {"out_trade_no": "GOVNOTOURS0001", "amount": 777, "type": "SUCCESS"},
        {"out_trade_no": partly, "amount": 100, "type": "REFUND", "out_refund_no": "RFEXTRA0001"},
        {"out_trade_no": "GOVYESTERDAY01", "amount": 300, "type": "SUCCESS", "time": yesterday.isoformat()}])
    assert changes["alter"] == {altered: 2400, refund["out_refund_no"]: 900} and changes["hide"] == [hidden]
    assert len(changes["add"]) == 3  # the calls add up

    _, rows, totals = read_bill(bill(gateway, day)[1])
    lines = {(row["商户订单号"], row["交易状态"]): row for row in rows}
    assert set(lines) == {(altered, "SUCCESS"), (altered, "REFUND"), (partly, "SUCCESS"), (partly, "REFUND"),
                          ("GOVNOTOURS0001", "SUCCESS")}  # the hidden payment is left out
    assert (lines[altered, "SUCCESS"]["应结订单金额"], lines[altered, "SUCCESS"]["手续费"]) == ("24.00", "0.14000")
    assert lines[altered, "REFUND"]["退款金额"] == "9.00"
    added_refund = lines[partly, "REFUND"]
    assert (added_refund["微信订单号"], added_refund["商户退款单号"], added_refund["退款金额"]) == (
        control.order(partly)["transaction_id"], "RFEXTRA0001", "1.00")
    stranger = lines["GOVNOTOURS0001", "SUCCESS"]
    assert (stranger["应结订单金额"], len(stranger["微信订单号"]), stranger["公众账号ID"]) == ("7.77", 28, APPID)
    assert totals == ["5", "36.77", "10.00", "0.00", "0.16000", "36.77", "10.00"]  # fees 14 + 3 + 5 - 5 - 1 fen
    _, earlier, _ = read_bill(bill(gateway, yesterday.date().isoformat())[1])
    assert [(row["商户订单号"], row["应结订单金额"]) for row in earlier] == [("GOVYESTERDAY01", "3.00")]

    with pytest.raises(httpx.HTTPStatusError):
        control.change_bill(alter={altered: "24.00"})  # type: ignore[dict-item]
    control.clear_bill_changes()
    _, rows, totals = read_bill(bill(gateway, day)[1])
    assert {(row["商户订单号"], row["交易状态"], row["应结订单金额"], row["退款金额"]) for row in rows} == {
        (altered, "SUCCESS", "25.00", "0.00"), (hidden, "SUCCESS", "10.00", "0.00"),
        (partly, "SUCCESS", "5.00", "0.00"), (altered, "REFUND", "0.00", "10.00")}


def test_a_late_refund_notice_waits_and_a_refused_one_is_sent_again(gateway: Gateway, control: WeChatPayStandIn,
                                                                    receiver: Receiver) -> None:
    number = paid_order(gateway, control, receiver)
    control.next_refunds(notice="late", delay=0.05, notice_delay=0.6)
    out_refund_no = refund_no()
    receiver.answers[:] = [500]
    applied_at = time.monotonic()
    gateway.call("POST", "/v3/refund/domestic/refunds", refund_request(number, out_refund_no, 100,
                                                                       notify_url=receiver.url))
    assert settled(control, out_refund_no)["status"] == "SUCCESS" and receiver.received.empty()
    first, second = receiver.next(), receiver.next()
    assert time.monotonic() - applied_at >= 0.6
    assert json.loads(first[1]) == json.loads(second[1])  # the same notice, signed afresh
    (sent,) = control.notices(out_refund_no=out_refund_no)
    deadline = time.monotonic() + 5
    while not sent["delivered"] and time.monotonic() < deadline:
        time.sleep(0.05)
        (sent,) = control.notices(out_refund_no=out_refund_no)
    assert [attempt["status"] for attempt in sent["attempts"]] == [500, 204]
