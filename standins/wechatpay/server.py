"""A stand-in for the WeChat Pay API v3 gateway (api.mch.weixin.qq.com), the payment provider our backend calls.

Run it as its own process:

    python -m standins.wechatpay --port 8320 --merchant-public-key apiclient_pub.pem
        [--mchid 1900000001] [--appid wx5a3e9c2b7d1f0a46 [--appid <another of the merchant's appids>]]
        [--api-v3-key <32 characters>]
        [--merchant-serial <serial_no>] [--platform-key platform_key.pem [--platform-certificate cert.pem]]
        [--retry-intervals 15,15,30,180,...]

It speaks the published paths, headers, signatures, encryption and error codes:

- Every request's `Authorization: WECHATPAY2-SHA256-RSA2048 mchid=…,nonce_str=…,timestamp=…,serial_no=…,
  signature=…` is checked against the merchant's public key (`--merchant-public-key`, a PEM public key or
  certificate; `--merchant-serial`, when given, must match `serial_no`), with a 5-minute freshness window:
  otherwise 401 `SIGN_ERROR`.
- Every reply, error replies included, is signed with the platform key: `Wechatpay-Serial`, `-Signature`,
  `-Timestamp`, `-Nonce` over `TIMESTAMP\\nNONCE\\nBODY\\n`. The platform key is generated at start with a
  self-signed certificate (its serial is printed as `PLATFORM_SERIAL <serial>`), or loaded (`--platform-key`).
- `POST /v3/pay/transactions/jsapi` and `/app` → 200 `{"prepay_id"}`; the same out_trade_no with the same
  body gives the same prepay_id, with another body 400 `INVALID_REQUEST`; a paid order 400 `ORDERPAID`, a
  closed one 400 `ORDER_CLOSED`; fields checked as published (out_trade_no 6-32 of `[A-Za-z0-9_*|-]`,
  amount.total a positive integer in fen, currency CNY, description ≤ 127 characters, …): 400 `PARAM_ERROR`;
  an appid or mchid that is not this merchant's: 400 `APPID_MCHID_NOT_MATCH`. Every `--appid` given belongs to
  the merchant (the mini-program's for JSAPI orders, the phone app's open-platform appid for APP orders); the
  first is the default.
- `GET /v3/pay/transactions/out-trade-no/{out_trade_no}?mchid=` → the transaction (trade_state NOTPAY,
  SUCCESS, CLOSED or PAYERROR); an order it never saw: 404 `ORDER_NOT_EXIST`, the code the live gateway
  answers (some pages of the documentation spell it `ORDERNOTEXIST`; an adapter should map both).
- `POST /v3/pay/transactions/out-trade-no/{out_trade_no}/close` `{"mchid"}` → 204; a paid order 400 `ORDERPAID`.
- `GET /v3/certificates` → the platform certificate, encrypted with the APIv3 key (associated_data "certificate").
- Payment notices (`TRANSACTION.SUCCESS`) are POSTed to the order's notify_url, the transaction encrypted
  with AEAD_AES_256_GCM (associated_data "transaction"), signed like a reply. The merchant must answer 200 or
  204; otherwise (or on no answer within 5 s) the notice is sent again after the next of `--retry-intervals`
  (by default WeChat Pay's published schedule, 15 s up to 6 h, 24 h 4 m in all). A failed payment (PAYERROR)
  is not notified, as WeChat Pay notifies successful payments only.

Test controls under `/_standin/`: `POST orders/{out_trade_no}/pay {"outcome": "success"|"payerror", "notice":
"now"|"late"|"twice"|"never", "delay": s}`, `GET orders/{out_trade_no}`, `POST behaviour {"mode": "down"
(500 SYSTEM_ERROR) | "slow" (answers after `delay` s) | "frequency_limited" (429 FREQUENCY_LIMITED), "count": n
(0: until cleared), "delay": s}`, `DELETE behaviour`, `GET notices` (each notice sent, its attempts and the
answers), `GET platform-certificate` (PEM), `POST reset`, `GET health`.

The stand-in uses the project's pure WeChat Pay v3 cryptography module (the same functions an adapter uses,
but each side calls the other half), and nothing else of the code base. Time is the wall clock; `--port 0`
picks a free port; the first line on stdout is `LISTENING <port>`.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import re
import secrets
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from standins.faults import Behaviour
from sanic import Request, Sanic
from sanic.response import HTTPResponse

from app.integrations.payment_providers import wechatpay_v3 as v3

DEFAULT_MCHID = "1900000001"
DEFAULT_APPID = "wx5a3e9c2b7d1f0a46"
DEFAULT_API_V3_KEY = "standin-apiv3-key-not-for-prod00"  # 32 characters, as an APIv3 key is
# WeChat Pay's published retry schedule for a notice the merchant did not accept (seconds after the last try).
PUBLISHED_RETRIES = (15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600)
NOTICE_TIMEOUT = 5.0  # seconds WeChat Pay waits for the merchant's answer
LATE_DEFAULT = 3.0  # seconds a "late" notice waits when no delay is given
MODES = ("down", "slow", "frequency_limited")
OUTCOMES = ("success", "payerror")
NOTICE_MODES = ("now", "late", "twice", "never")
CHINA = dt.timezone(dt.timedelta(hours=8))
OUT_TRADE_NO = re.compile(r"[A-Za-z0-9_*|\-]{6,32}")
MESSAGES = {
    "SIGN_ERROR": "签名错误", "PARAM_ERROR": "参数错误", "ORDERPAID": "该订单已支付",
    "ORDER_CLOSED": "订单已关闭", "ORDER_NOT_EXIST": "订单不存在", "SYSTEM_ERROR": "系统错误",
    "FREQUENCY_LIMITED": "频率超限", "INVALID_REQUEST": "201 商户订单号重复",
    "APPID_MCHID_NOT_MATCH": "AppID和mch_id不匹配",
}
STATUS = {"SIGN_ERROR": 401, "ORDER_NOT_EXIST": 404, "SYSTEM_ERROR": 500, "FREQUENCY_LIMITED": 429}


class Refused(Exception):
    """A WeChat Pay error reply: `{"code", "message"}` and its HTTP status."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(code)
        self.code, self.detail = code, detail


def rfc3339(moment: float) -> str:
    """A time as WeChat Pay writes it: `2018-06-08T10:34:56+08:00`."""
    return dt.datetime.fromtimestamp(moment, CHINA).isoformat(timespec="seconds")


def parse_rfc3339(text: Any) -> float | None:
    if not isinstance(text, str) or "T" not in text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.timestamp() if moment.tzinfo is not None else None


@dataclass
class Order:
    trade_type: str  # JSAPI or APP
    body: dict[str, Any]
    prepay_id: str
    created: float
    trade_state: str = "NOTPAY"
    transaction_id: str = ""
    success_time: str = ""

    @property
    def out_trade_no(self) -> str:
        return str(self.body["out_trade_no"])

    def view(self) -> dict[str, Any]:
        """The transaction as the query answers it and a notice's resource carries it."""
        body = self.body
        amount: dict[str, Any] = {"total": body["amount"]["total"], "currency": body["amount"].get("currency", "CNY")}
        view: dict[str, Any] = {
            "appid": body["appid"], "mchid": body["mchid"], "out_trade_no": self.out_trade_no,
            "trade_type": self.trade_type, "trade_state": self.trade_state,
            "trade_state_desc": TRADE_STATE_DESC[self.trade_state], "attach": body.get("attach", ""),
            "amount": amount,
        }
        if self.trade_state in ("SUCCESS", "PAYERROR"):
            view["transaction_id"] = self.transaction_id
            view["bank_type"] = "OTHERS"
            if "payer" in body:
                view["payer"] = {"openid": body["payer"]["openid"]}
        if self.trade_state == "SUCCESS":
            view["success_time"] = self.success_time
            amount.update(payer_total=amount["total"], payer_currency=amount["currency"])
        return view


TRADE_STATE_DESC = {"NOTPAY": "订单未支付", "SUCCESS": "支付成功", "CLOSED": "订单已关闭", "PAYERROR": "支付失败"}


@dataclass
class Platform:
    key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    @property
    def serial(self) -> str:
        return v3.certificate_serial(self.certificate)

    def certificate_pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def self_signed_platform(key: rsa.RSAPrivateKey | None = None) -> Platform:
    """A platform key (new RSA-2048 unless given) and a certificate for it, with a 40-hex-digit serial as
    WeChat Pay's platform certificates have."""
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tenpay.com (stand-in)"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com platform certificate (stand-in)")])
    now = dt.datetime.now(dt.timezone.utc)
    serial = (1 << 156) | secrets.randbits(156)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(serial).not_valid_before(now - dt.timedelta(days=1))
                   .not_valid_after(now + dt.timedelta(days=5 * 365)).sign(key, hashes.SHA256()))
    return Platform(key, certificate)


@dataclass
class PayState:
    mchid: str
    appids: tuple[str, ...]  # every appid bound to the merchant; the first is the default
    api_v3_key: bytes
    platform: Platform
    merchant_key: v3.PublicKey | None
    merchant_serial: str | None = None
    retry_intervals: tuple[float, ...] = PUBLISHED_RETRIES
    orders: dict[str, Order] = field(default_factory=dict)
    notices: list[dict[str, Any]] = field(default_factory=list)
    behaviour: Behaviour | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def appid(self) -> str:
        return self.appids[0]

    def find_merchant_key(self, mchid: str, serial_no: str) -> v3.PublicKey | None:
        if mchid != self.mchid or (self.merchant_serial and serial_no != self.merchant_serial):
            return None
        return self.merchant_key

    def next_behaviour(self) -> Behaviour | None:
        """The behaviour for this reply, counting it down."""
        behaviour = self.behaviour
        if behaviour is not None and behaviour.use():
            self.behaviour = None
        return behaviour

    def signed(self, payload: dict[str, Any] | None, status: int = 200) -> HTTPResponse:
        """A reply signed with the platform key over exactly the bytes sent (empty for 204)."""
        body = b"" if payload is None else json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        headers = v3.signed_headers(body, serial=self.platform.serial, private_key=self.platform.key,
                                    timestamp=int(time.time()), nonce=v3.new_nonce())
        headers["Request-ID"] = secrets.token_hex(16)
        return HTTPResponse(body, status=status, headers=headers,
                            content_type="application/json; charset=utf-8" if payload is not None else None)

    def refused(self, code: str, detail: str = "") -> HTTPResponse:
        message = MESSAGES.get(code, code) + (f"：{detail}" if detail else "")
        return self.signed({"code": code, "message": message}, status=STATUS.get(code, 400))

    # --- orders ---------------------------------------------------------------------------------------------

    def create(self, trade_type: str, body: Any) -> Order:
        validate_order(trade_type, body)
        if body["appid"] not in self.appids or body["mchid"] != self.mchid:
            raise Refused("APPID_MCHID_NOT_MATCH")
        known = self.orders.get(body["out_trade_no"])
        if known is not None:
            if known.trade_state == "SUCCESS":
                raise Refused("ORDERPAID")
            if known.trade_state == "CLOSED":
                raise Refused("ORDER_CLOSED")
            if known.trade_type != trade_type or known.body != body:
                raise Refused("INVALID_REQUEST")  # the same out_trade_no with other content
            return known
        now = time.time()
        prepay_id = "wx" + dt.datetime.fromtimestamp(now, CHINA).strftime("%Y%m%d%H%M%S") + secrets.token_hex(10)
        order = Order(trade_type, body, prepay_id, now)
        self.orders[order.out_trade_no] = order
        return order

    def pay(self, order: Order, outcome: str) -> None:
        now = time.time()
        order.transaction_id = ("4200" + f"{secrets.randbelow(10**6):06d}"
                                + dt.datetime.fromtimestamp(now, CHINA).strftime("%Y%m%d")
                                + f"{secrets.randbelow(10**10):010d}")  # 28 digits, as WeChat Pay's are
        if outcome == "success":
            order.trade_state, order.success_time = "SUCCESS", rfc3339(now)
        else:
            order.trade_state = "PAYERROR"

    # --- notices --------------------------------------------------------------------------------------------

    def notice_body(self, order: Order) -> bytes:
        resource = v3.encrypt_resource(self.api_v3_key, json.dumps(order.view(), ensure_ascii=False).encode(),
                                       associated_data="transaction", original_type="transaction")
        notice = {"id": _notice_id(), "create_time": rfc3339(time.time()), "resource_type": "encrypt-resource",
                  "event_type": "TRANSACTION.SUCCESS", "summary": "支付成功",
                  "resource": {key: resource[key] for key in
                               ("original_type", "algorithm", "ciphertext", "associated_data", "nonce")}}
        return json.dumps(notice, ensure_ascii=False, separators=(",", ":")).encode()

    def send_notice(self, order: Order, body: bytes, delay: float) -> None:
        record: dict[str, Any] = {"id": json.loads(body)["id"], "out_trade_no": order.out_trade_no,
                                  "event_type": "TRANSACTION.SUCCESS", "notify_url": order.body["notify_url"],
                                  "attempts": [], "delivered": False, "gave_up": False}
        self.notices.append(record)
        task = asyncio.get_running_loop().create_task(self._deliver(record, body, delay))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _deliver(self, record: dict[str, Any], body: bytes, delay: float) -> None:
        """POST the notice until the merchant accepts it (200 or 204) or the retry schedule runs out; each try
        is signed afresh, as WeChat Pay signs each delivery."""
        waits = (delay, *self.retry_intervals)
        async with httpx.AsyncClient(timeout=NOTICE_TIMEOUT) as client:
            for wait in waits:
                if wait > 0:
                    await asyncio.sleep(wait)
                headers = v3.signed_headers(body, serial=self.platform.serial, private_key=self.platform.key,
                                            timestamp=int(time.time()), nonce=v3.new_nonce())
                headers["Content-Type"] = "application/json"
                attempt: dict[str, Any] = {"at": time.time(), "status": None, "answer": "", "error": ""}
                record["attempts"].append(attempt)
                try:
                    answer = await client.post(record["notify_url"], content=body, headers=headers)
                    attempt["status"], attempt["answer"] = answer.status_code, answer.text[:500]
                except httpx.HTTPError as exc:
                    attempt["error"] = type(exc).__name__
                    continue
                if answer.status_code in (200, 204):
                    record["delivered"] = True
                    return
        record["gave_up"] = True

    def reset(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        self.tasks.clear()
        self.orders.clear()
        self.notices.clear()
        self.behaviour = None


def _notice_id() -> str:
    return "EV-" + dt.datetime.now(CHINA).strftime("%Y%m%d%H%M%S") + f"{secrets.randbelow(10**8):08d}"


def _text(body: dict[str, Any], name: str, maximum: int, required: bool = True) -> None:
    value = body.get(name)
    if value is None and not required:
        return
    if not isinstance(value, str) or not value or len(value) > maximum:
        raise Refused("PARAM_ERROR", f"{name}")


def validate_order(trade_type: str, body: Any) -> None:
    """A JSAPI or APP order's fields as the gateway checks them; Refused("PARAM_ERROR") naming the field."""
    if not isinstance(body, dict):
        raise Refused("PARAM_ERROR", "请求体不是 JSON 对象")
    _text(body, "appid", 32)
    _text(body, "mchid", 32)
    _text(body, "description", 127)
    _text(body, "notify_url", 255)
    _text(body, "attach", 128, required=False)
    out_trade_no = body.get("out_trade_no")
    if not isinstance(out_trade_no, str) or not OUT_TRADE_NO.fullmatch(out_trade_no):
        raise Refused("PARAM_ERROR", "out_trade_no")
    if not str(body["notify_url"]).startswith(("https://", "http://")):
        raise Refused("PARAM_ERROR", "notify_url")  # the real gateway takes https only; the stand-in takes http too
    if "time_expire" in body and parse_rfc3339(body["time_expire"]) is None:
        raise Refused("PARAM_ERROR", "time_expire")
    amount = body.get("amount")
    if not isinstance(amount, dict):
        raise Refused("PARAM_ERROR", "amount")
    total = amount.get("total")
    if not isinstance(total, int) or isinstance(total, bool) or total <= 0:
        raise Refused("PARAM_ERROR", "amount.total")
    if amount.get("currency", "CNY") != "CNY":
        raise Refused("PARAM_ERROR", "amount.currency")
    if trade_type == "JSAPI":
        payer = body.get("payer")
        if not isinstance(payer, dict):
            raise Refused("PARAM_ERROR", "payer")
        _text(payer, "openid", 128)


def create_app(state: PayState, name: str = "wechatpay_standin") -> Sanic:
    app = Sanic(name)
    app.config.AUTO_EXTEND = False
    app.ctx.state = state

    async def gate(request: Request) -> HTTPResponse | None:
        """What comes before any API handler: a test-set fault, then the request signature."""
        behaviour = state.next_behaviour()
        if behaviour is not None:
            if behaviour.mode == "down":
                return state.refused("SYSTEM_ERROR")
            if behaviour.mode == "frequency_limited":
                return state.refused("FREQUENCY_LIMITED")
            await asyncio.sleep(behaviour.delay or 1.0)
        url = request.path + (f"?{request.query_string}" if request.query_string else "")
        try:
            v3.verify_authorization(request.method, url, request.body or b"", request.headers.get("authorization", ""),
                                    find_merchant_key=state.find_merchant_key, now=time.time())
        except v3.SignatureRejected:
            return state.refused("SIGN_ERROR")
        return None

    def json_body(request: Request) -> Any:
        try:
            return json.loads(request.body or b"")
        except ValueError:
            raise Refused("PARAM_ERROR", "请求体不是 JSON") from None

    async def create_order(request: Request, trade_type: str) -> HTTPResponse:
        if (stopped := await gate(request)) is not None:
            return stopped
        try:
            order = state.create(trade_type, json_body(request))
        except Refused as refused:
            return state.refused(refused.code, refused.detail)
        return state.signed({"prepay_id": order.prepay_id})

    @app.post("/v3/pay/transactions/jsapi")
    async def jsapi(request: Request) -> HTTPResponse:
        return await create_order(request, "JSAPI")

    @app.post("/v3/pay/transactions/app")
    async def app_order(request: Request) -> HTTPResponse:
        return await create_order(request, "APP")

    @app.get("/v3/pay/transactions/out-trade-no/<out_trade_no:str>")
    async def query(request: Request, out_trade_no: str) -> HTTPResponse:
        if (stopped := await gate(request)) is not None:
            return stopped
        if request.args.get("mchid") != state.mchid:
            return state.refused("PARAM_ERROR", "mchid")
        order = state.orders.get(out_trade_no)
        return state.signed(order.view()) if order else state.refused("ORDER_NOT_EXIST")

    @app.post("/v3/pay/transactions/out-trade-no/<out_trade_no:str>/close")
    async def close(request: Request, out_trade_no: str) -> HTTPResponse:
        if (stopped := await gate(request)) is not None:
            return stopped
        try:
            body = json_body(request)
        except Refused as refused:
            return state.refused(refused.code, refused.detail)
        if not isinstance(body, dict) or body.get("mchid") != state.mchid:
            return state.refused("PARAM_ERROR", "mchid")
        order = state.orders.get(out_trade_no)
        if order is None:
            return state.refused("ORDER_NOT_EXIST")
        if order.trade_state == "SUCCESS":
            return state.refused("ORDERPAID")
        order.trade_state = "CLOSED"
        return state.signed(None, status=204)

    @app.get("/v3/certificates")
    async def certificates(request: Request) -> HTTPResponse:
        if (stopped := await gate(request)) is not None:
            return stopped
        platform = state.platform
        resource = v3.encrypt_resource(state.api_v3_key, platform.certificate_pem().encode(),
                                       associated_data="certificate", original_type="certificate")
        del resource["original_type"]
        valid = platform.certificate
        return state.signed({"data": [{
            "serial_no": platform.serial, "effective_time": rfc3339(valid.not_valid_before_utc.timestamp()),
            "expire_time": rfc3339(valid.not_valid_after_utc.timestamp()), "encrypt_certificate": resource}]})

    # --- test controls ----------------------------------------------------------------------------------------

    def control_json(request: Request) -> dict[str, Any]:
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            body = None
        return body if isinstance(body, dict) else {}

    @app.post("/_standin/orders/<out_trade_no:str>/pay")
    async def pay(request: Request, out_trade_no: str) -> HTTPResponse:
        body = control_json(request)
        outcome, notice = body.get("outcome", "success"), body.get("notice", "now")
        try:
            delay = float(body.get("delay", 0.0))
        except (TypeError, ValueError):
            delay = -1.0
        if outcome not in OUTCOMES or notice not in NOTICE_MODES or delay < 0:
            return _plain({"message": f"outcome one of {OUTCOMES}, notice one of {NOTICE_MODES}, delay >= 0"}, 400)
        order = state.orders.get(out_trade_no)
        if order is None:
            return _plain({"message": "no such order"}, 404)
        if order.trade_state != "NOTPAY":
            return _plain({"message": f"the order is {order.trade_state}"}, 409)
        state.pay(order, outcome)
        if order.trade_state == "SUCCESS" and notice != "never":
            wait = delay or (LATE_DEFAULT if notice == "late" else 0.0)
            notice_body = state.notice_body(order)
            state.send_notice(order, notice_body, wait)
            if notice == "twice":  # the same notice (same id) delivered again, as a retry that crossed an answer
                state.send_notice(order, notice_body, wait)
        return _plain(order.view())

    @app.get("/_standin/orders/<out_trade_no:str>")
    async def order_view(request: Request, out_trade_no: str) -> HTTPResponse:
        order = state.orders.get(out_trade_no)
        if order is None:
            return _plain({"message": "no such order"}, 404)
        return _plain({**order.view(), "prepay_id": order.prepay_id, "notify_url": order.body["notify_url"]})

    @app.post("/_standin/behaviour")
    async def behave(request: Request) -> HTTPResponse:
        body = control_json(request)
        try:
            behaviour = Behaviour(str(body.get("mode")), int(body.get("count", 1)), float(body.get("delay", 0.0)))
        except (TypeError, ValueError):
            behaviour = Behaviour("", -1, -1.0)
        if behaviour.mode not in MODES or behaviour.count < 0 or behaviour.delay < 0:
            return _plain({"message": f"mode one of {MODES}, count >= 0 (0: until cleared), delay >= 0"}, 400)
        state.behaviour = behaviour
        return _plain({"mode": behaviour.mode, "count": behaviour.count, "delay": behaviour.delay})

    @app.delete("/_standin/behaviour")
    async def calm(request: Request) -> HTTPResponse:
        state.behaviour = None
        return _plain({"cleared": True})

    @app.get("/_standin/notices")
    async def notices(request: Request) -> HTTPResponse:
        out_trade_no = request.args.get("out_trade_no")
        items = [n for n in state.notices if out_trade_no is None or n["out_trade_no"] == out_trade_no]
        return _plain({"items": items})

    @app.get("/_standin/platform-certificate")
    async def platform_certificate(request: Request) -> HTTPResponse:
        return HTTPResponse(state.platform.certificate_pem(), headers={"X-Serial": state.platform.serial},
                            content_type="application/x-pem-file")

    @app.post("/_standin/reset")
    async def reset(request: Request) -> HTTPResponse:
        state.reset()
        return _plain({"reset": True})

    @app.get("/_standin/health")
    async def health(request: Request) -> HTTPResponse:
        return _plain({"status": "ok", "party": "wechatpay", "platform_serial": state.platform.serial})

    return app


def _plain(payload: dict[str, Any], status: int = 200) -> HTTPResponse:
    """A control reply: unsigned JSON, it is not part of the protocol."""
    return HTTPResponse(json.dumps(payload, ensure_ascii=False), status=status, content_type="application/json")


def load_platform(key_path: str | None, certificate_path: str | None) -> Platform:
    if key_path is None:
        return self_signed_platform()
    key = v3.load_private_key(Path(key_path).read_bytes())
    if certificate_path is None:
        return self_signed_platform(key)
    return Platform(key, v3.load_certificate(Path(certificate_path).read_bytes()))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m standins.wechatpay", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8320, help="0: any free port (see the LISTENING line)")
    parser.add_argument("--mchid", default=DEFAULT_MCHID)
    parser.add_argument("--appid", action="append", dest="appids",
                        help=f"an appid bound to the merchant, once per appid (default {DEFAULT_APPID})")
    parser.add_argument("--api-v3-key", default=DEFAULT_API_V3_KEY, help="32 characters")
    parser.add_argument("--merchant-public-key", help="PEM public key or certificate of the merchant's API key")
    parser.add_argument("--merchant-serial", help="the merchant certificate serial requests must name (any if unset)")
    parser.add_argument("--platform-key", help="PEM private key of the platform (default: a new one)")
    parser.add_argument("--platform-certificate", help="PEM certificate for --platform-key (default: self-signed)")
    parser.add_argument("--retry-intervals", default=",".join(str(s) for s in PUBLISHED_RETRIES),
                        help="seconds between tries of a notice the merchant did not accept")
    args = parser.parse_args(argv)
    api_v3_key = args.api_v3_key.encode()
    if len(api_v3_key) != v3.API_V3_KEY_BYTES:
        parser.error("--api-v3-key must be 32 bytes")
    merchant_key = (v3.load_public_key(Path(args.merchant_public_key).read_bytes())
                    if args.merchant_public_key else None)  # without it every request is refused: SIGN_ERROR
    retry_intervals = tuple(float(s) for s in args.retry_intervals.split(",") if s.strip())
    platform = load_platform(args.platform_key, args.platform_certificate)
    state = PayState(args.mchid, tuple(args.appids or [DEFAULT_APPID]), api_v3_key, platform, merchant_key,
                     args.merchant_serial, retry_intervals)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    app = create_app(state)
    print(f"LISTENING {sock.getsockname()[1]}", flush=True)
    print(f"PLATFORM_SERIAL {state.platform.serial}", flush=True)
    app.run(sock=sock, single_process=True, access_log=False, motd=False)
