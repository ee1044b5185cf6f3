"""A stand-in for the WeChat Pay API v3 gateway (api.mch.weixin.qq.com), the payment provider our backend calls.

Run it as its own process:

    python -m standins.wechatpay --port 8320 --merchant-public-key apiclient_pub.pem
        [--mchid 1900000001] [--appid wx5a3e9c2b7d1f0a46 [--appid <another of the merchant's appids>]]
        [--api-v3-key <32 characters>]
        [--merchant-serial <serial_no>] [--platform-key platform_key.pem [--platform-certificate cert.pem]]
        [--retry-intervals 15,15,30,180,...] [--refund-delay 0.2]

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
  SUCCESS, CLOSED, PAYERROR, or REFUND "转入退款" once a refund of it has succeeded; payer.openid of a paid
  APP order is one the stand-in makes up); an order it never saw: 404 `ORDER_NOT_EXIST`, the code the live gateway
  answers (some pages of the documentation spell it `ORDERNOTEXIST`; an adapter should map both).
- `POST /v3/pay/transactions/out-trade-no/{out_trade_no}/close` `{"mchid"}` → 204; a paid order 400 `ORDERPAID`.
- `POST /v3/refund/domestic/refunds` `{"out_trade_no" | "transaction_id" (both: the same order), "out_refund_no"
  (1-64 of `[A-Za-z0-9_-|*@]`), "reason"? (≤ 80), "notify_url"?, "funds_account"? ("AVAILABLE"), "amount":
  {"refund", "total", "currency": "CNY"}}` → 200 the refund: `{"refund_id" (29 digits), "out_refund_no",
  "transaction_id", "out_trade_no", "channel": "ORIGINAL", "user_received_account": "支付用户零钱",
  "success_time"? (SUCCESS only), "create_time", "status", "funds_account": "AVAILABLE", "amount": {"total",
  "refund", "payer_total", "payer_refund", "settlement_refund", "settlement_total", "discount_refund": 0,
  "currency": "CNY"}}`. A new refund is PROCESSING, then (after `--refund-delay`, unless a control says
  otherwise) SUCCESS. Fields as published: 400 `PARAM_ERROR`; an order it never saw: 404
  `RESOURCE_NOT_EXISTS`; one not paid: 400 `INVALID_REQUEST`; amount.total not the order's: 400
  `PARAM_ERROR`; more than the order's total in refunds that are PROCESSING or SUCCESS: 400 `INVALID_REQUEST`;
  the same out_refund_no with the same body gives the same refund, with another body 400 `INVALID_REQUEST`.
- `GET /v3/refund/domestic/refunds/{out_refund_no}` → the refund; one it never saw: 404 `RESOURCE_NOT_EXISTS`.
- `GET /v3/bill/tradebill?bill_date=YYYY-MM-DD[&bill_type=ALL|SUCCESS|REFUND][&tar_type=GZIP]` → 200
  `{"hash_type": "SHA1", "hash_value", "download_url"}`: hash_value is the SHA1 (hex) of the bill as published,
  "原始账单(gzip需要解压缩)", i.e. of the unzipped file when tar_type=GZIP; download_url is this stand-in's base URL
  as the request reached it (its Host) + `/v3/billdownload/file?token=…`. A malformed bill_date, bill_type or
  tar_type: 400 `PARAM_ERROR`; a day with no line of the type asked: 400 `NO_STATEMENT_EXIST` "账单不存在".
  Unlike the real gateway (yesterday's bill from 10:00 on, the last three months only), the stand-in builds
  the bill when asked from what the day has so far, today's included, and takes any date. The file's format
  (columns per bill type, backticks, yuan, CRLF) is in bills.py; a line's day is the Beijing date of the
  payment's or the refund's success time.
- `GET /v3/billdownload/file?token=…` (the request signed as any; a token answers for 30 s) → 200 the file,
  `text/plain; charset=utf-8` (gzip bytes, `application/octet-stream`, for tar_type=GZIP), not signed: no
  Wechatpay-* headers, as the real download (the client checks hash_value instead). An unknown or expired token:
  400 `PARAM_ERROR`, signed like any error.
- `GET /v3/certificates` → the platform certificate, encrypted with the APIv3 key (associated_data "certificate").
- Payment notices (`TRANSACTION.SUCCESS`) are POSTed to the order's notify_url, the transaction encrypted
  with AEAD_AES_256_GCM (associated_data "transaction"), signed like a reply. The merchant must answer 200 or
  204; otherwise (or on no answer within 5 s) the notice is sent again after the next of `--retry-intervals`
  (by default WeChat Pay's published schedule, 15 s up to 6 h, 24 h 4 m in all). A failed payment (PAYERROR)
  is not notified, as WeChat Pay notifies successful payments only.
- Refund notices, when the refund request gave a notify_url, go the same way once the refund ends:
  `REFUND.SUCCESS` "退款成功", `REFUND.ABNORMAL` "退款异常" or `REFUND.CLOSED` "退款关闭", the resource
  (associated_data and original_type "refund") `{"mchid", "out_trade_no", "transaction_id", "out_refund_no",
  "refund_id", "refund_status", "success_time"? (SUCCESS only), "user_received_account", "amount": {"total",
  "refund", "payer_total", "payer_refund"}}`.

Test controls under `/_standin/` (unsigned JSON, no fault applies to them):

- `POST orders/{out_trade_no}/pay {"outcome": "success"|"payerror", "notice": "now"|"late"|"twice"|"never",
  "delay": s}`, `GET orders/{out_trade_no}`.
- `POST refunds/next {"outcome": "success"|"abnormal"|"closed"|"processing", "notice": "now"|"late"|"twice"|
  "never", "delay": s, "notice_delay": s}`: how every refund applied for from then on goes, until the next such
  call or a reset (each call states the whole plan; what it leaves out is the default: success, now,
  `--refund-delay`, 0). A refund ends `outcome` `delay` s after it was made ("processing": it stays PROCESSING
  until finished by the control below); its notice is sent `notice_delay` s after that (3 s for a late one
  without it), twice with one id, or never. `POST refunds/{out_refund_no}/finish {"outcome": "success"|
  "abnormal"|"closed", "notice", "notice_delay"}` ends a PROCESSING refund now (409 if it has ended).
  `GET refunds/{out_refund_no}` (with its notify_url and reason).
- `POST bills/changes {"alter": {"<out_trade_no or out_refund_no>": fen}, "hide": ["<out_trade_no or
  out_refund_no>", …], "add": [{"out_trade_no", "amount": fen, "type": "SUCCESS"|"REFUND", "out_refund_no"?,
  "time"?: RFC 3339}, …]}`: every bill produced afterwards, until `DELETE bills/changes` or a reset, says
  otherwise than what happened (to exercise reconciliation); calls add up. alter sets the amount of the
  payment's (by out_trade_no) or refund's (by out_refund_no) line, hide leaves it out; add puts in a line of its
  own on the Beijing day of its time (now if left out), filled from the order if the stand-in knows it, else
  made-up ids, JSAPI and the first appid; alter and hide do not touch added lines. `GET bills/changes`.
- `POST behaviour {"mode", "count": n (0: until cleared), "delay": s}`, `DELETE behaviour`; the next `count`
  API calls act out the mode: "down" (500 SYSTEM_ERROR), "slow" (answer after `delay` s), "late_reply" (do the
  work at once, answer after `delay` s: a caller that gave up has an order it never heard of), "frequency_limited"
  (429 FREQUENCY_LIMITED), "bad_signature" (the usual reply, but its Wechatpay-Signature does not verify: a real
  RSA signature of other bytes), "not_enough" (refund applications only, once their signature is checked: 403
  NOT_ENOUGH "基本账户余额不足，请充值后重新发起"; other calls pass it by without counting).
- `GET notices[?out_trade_no=…][&out_refund_no=…]` (each notice sent, payments' and refunds', its attempts and
  the answers), `GET platform-certificate` (PEM), `POST reset` (orders, refunds and their plan, notices, bill
  changes and downloads, behaviour), `GET health`.

The stand-in uses the project's pure WeChat Pay v3 cryptography module (the same functions an adapter uses,
but each side calls the other half), and nothing else of the code base. Time is the wall clock; `--port 0`
picks a free port; the first line on stdout is `LISTENING <port>`.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gzip
import hashlib
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
from sanic import Request, Sanic
from sanic.response import HTTPResponse

from app.clock import CHINA_TZ
from app.integrations.payment_providers import wechatpay_v3 as v3
from standins.faults import Behaviour
from standins.wechatpay import bills, refunds
from standins.wechatpay.bills import BillChanges, BillFile, BillLine
from standins.wechatpay.common import Refused, parse_rfc3339, rfc3339, text_field
from standins.wechatpay.refunds import Refund, RefundPlan

DEFAULT_MCHID = "1900000001"
DEFAULT_APPID = "wx5a3e9c2b7d1f0a46"
DEFAULT_API_V3_KEY = "standin-apiv3-key-not-for-prod00"  # 32 characters, as an APIv3 key is
# WeChat Pay's published retry schedule for a notice the merchant did not accept (seconds after the last try).
PUBLISHED_RETRIES = (15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600)
NOTICE_TIMEOUT = 5.0  # seconds WeChat Pay waits for the merchant's answer
LATE_DEFAULT = 3.0  # seconds a "late" notice waits when no delay is given
MODES = ("down", "slow", "late_reply", "frequency_limited", "not_enough", "bad_signature")
REFUND_ONLY_MODES = ("not_enough",)  # acted out on refund requests only; other calls pass and do not count
OUTCOMES = ("success", "payerror")
NOTICE_MODES = ("now", "late", "twice", "never")
OUT_TRADE_NO = re.compile(r"[A-Za-z0-9_*|\-]{6,32}")
MESSAGES = {
    "SIGN_ERROR": "签名错误", "PARAM_ERROR": "参数错误", "ORDERPAID": "该订单已支付",
    "ORDER_CLOSED": "订单已关闭", "ORDER_NOT_EXIST": "订单不存在", "SYSTEM_ERROR": "系统错误",
    "FREQUENCY_LIMITED": "频率超限", "INVALID_REQUEST": "201 商户订单号重复",
    "APPID_MCHID_NOT_MATCH": "AppID和mch_id不匹配", "RESOURCE_NOT_EXISTS": "资源不存在",
    "NOT_ENOUGH": "基本账户余额不足，请充值后重新发起", "NO_STATEMENT_EXIST": "账单不存在",
}
STATUS = {"SIGN_ERROR": 401, "ORDER_NOT_EXIST": 404, "SYSTEM_ERROR": 500, "FREQUENCY_LIMITED": 429,
          "RESOURCE_NOT_EXISTS": 404, "NOT_ENOUGH": 403}


@dataclass
class Order:
    trade_type: str  # JSAPI or APP
    body: dict[str, Any]
    prepay_id: str
    created: float
    trade_state: str = "NOTPAY"
    transaction_id: str = ""
    success_time: str = ""
    paid: float | None = None  # when it was paid (success_time as a number)
    payer_openid: str = ""  # the JSAPI payer's, or one the stand-in makes up for an APP payer
    refunded: bool = False  # a refund of it succeeded: the query says REFUND

    @property
    def total(self) -> int:
        return int(self.body["amount"]["total"])

    @property
    def out_trade_no(self) -> str:
        return str(self.body["out_trade_no"])

    def view(self) -> dict[str, Any]:
        """The transaction as the query answers it and a notice's resource carries it."""
        body = self.body
        trade_state = "REFUND" if self.refunded and self.trade_state == "SUCCESS" else self.trade_state
        amount: dict[str, Any] = {"total": body["amount"]["total"], "currency": body["amount"].get("currency", "CNY")}
        view: dict[str, Any] = {
            "appid": body["appid"], "mchid": body["mchid"], "out_trade_no": self.out_trade_no,
            "trade_type": self.trade_type, "trade_state": trade_state,
            "trade_state_desc": TRADE_STATE_DESC[trade_state], "attach": body.get("attach", ""),
            "amount": amount,
        }
        if self.trade_state in ("SUCCESS", "PAYERROR"):
            view["transaction_id"] = self.transaction_id
            view["bank_type"] = "OTHERS"
            view["payer"] = {"openid": self.payer_openid}
        if self.trade_state == "SUCCESS":
            view["success_time"] = self.success_time
            amount.update(payer_total=amount["total"], payer_currency=amount["currency"])
        return view


TRADE_STATE_DESC = {"NOTPAY": "订单未支付", "SUCCESS": "支付成功", "CLOSED": "订单已关闭", "PAYERROR": "支付失败",
                    "REFUND": "转入退款"}


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
    refund_delay: float = refunds.DEFAULT_DELAY  # seconds a new refund stays PROCESSING, until told otherwise
    orders: dict[str, Order] = field(default_factory=dict)
    refunds: dict[str, Refund] = field(default_factory=dict)
    refund_plan: RefundPlan = field(default_factory=RefundPlan)
    notices: list[dict[str, Any]] = field(default_factory=list)
    bill_changes: BillChanges = field(default_factory=BillChanges)
    bill_files: dict[str, BillFile] = field(default_factory=dict)  # by download token
    behaviour: Behaviour | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.refund_plan = RefundPlan(delay=self.refund_delay)

    @property
    def appid(self) -> str:
        return self.appids[0]

    def find_merchant_key(self, mchid: str, serial_no: str) -> v3.PublicKey | None:
        if mchid != self.mchid or (self.merchant_serial and serial_no != self.merchant_serial):
            return None
        return self.merchant_key

    def next_behaviour(self, refund_request: bool = False) -> Behaviour | None:
        """The behaviour for this reply, counting it down; a refund-only one passes other calls by, uncounted."""
        behaviour = self.behaviour
        if behaviour is None or (behaviour.mode in REFUND_ONLY_MODES and not refund_request):
            return None
        if behaviour.use():
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

    def refused(self, code: str, detail: str = "", message: str | None = None) -> HTTPResponse:
        text = (message or MESSAGES.get(code, code)) + (f"：{detail}" if detail else "")
        return self.signed({"code": code, "message": text}, status=STATUS.get(code, 400))

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
        prepay_id = "wx" + dt.datetime.fromtimestamp(now, CHINA_TZ).strftime("%Y%m%d%H%M%S") + secrets.token_hex(10)
        order = Order(trade_type, body, prepay_id, now)
        self.orders[order.out_trade_no] = order
        return order

    def pay(self, order: Order, outcome: str) -> None:
        now = time.time()
        order.transaction_id = new_transaction_id(now)
        order.payer_openid = (order.body["payer"]["openid"] if "payer" in order.body
                              else new_openid())  # an APP payer's openid under the app's appid
        if outcome == "success":
            order.trade_state, order.success_time, order.paid = "SUCCESS", rfc3339(now), now
        else:
            order.trade_state = "PAYERROR"

    # --- refunds --------------------------------------------------------------------------------------------

    def create_refund(self, body: Any) -> tuple[Refund, bool]:
        """The refund the request asks for, and whether it is new (the same out_refund_no and body: the same
        refund, as the gateway takes a retry)."""
        refunds.validate_refund(body)
        known = self.refunds.get(body["out_refund_no"])
        if known is not None:
            if known.body != body:
                raise Refused("INVALID_REQUEST", message="商户退款单号重复，且请求参数与原请求不一致")
            return known, False
        order = self.refunded_order(body)
        if order.trade_state != "SUCCESS":
            raise Refused("INVALID_REQUEST", message="订单未支付成功，不能退款")
        if body["amount"]["total"] != order.total:
            raise Refused("PARAM_ERROR", "amount.total 与原订单金额不一致")
        taken = sum(r.refund for r in self.refunds.values()
                    if r.out_trade_no == order.out_trade_no and r.status in ("PROCESSING", "SUCCESS"))
        if taken + body["amount"]["refund"] > order.total:
            raise Refused("INVALID_REQUEST", message="申请退款金额超过订单可退金额")
        now = time.time()
        refund = Refund(body, self.mchid, order.out_trade_no, order.transaction_id, order.total,
                        refunds.new_refund_id(now), now)
        self.refunds[refund.out_refund_no] = refund
        return refund, True

    def refunded_order(self, body: dict[str, Any]) -> Order:
        """The order a refund names by transaction_id or out_trade_no (both given must be the same order)."""
        transaction_id, out_trade_no = body.get("transaction_id"), body.get("out_trade_no")
        if transaction_id is not None:
            order = next((o for o in self.orders.values() if o.transaction_id == transaction_id), None)
            if order is not None and out_trade_no is not None and order.out_trade_no != out_trade_no:
                raise Refused("PARAM_ERROR", "transaction_id 与 out_trade_no 不是同一订单")
        else:
            order = self.orders.get(out_trade_no) if out_trade_no is not None else None
        if order is None:
            raise Refused("RESOURCE_NOT_EXISTS", message="订单不存在")
        return order

    def plan_refund(self, refund: Refund) -> None:
        """End a new refund as the refund plan says, after its delay (unless it stays PROCESSING)."""
        plan = RefundPlan(**self.refund_plan.view())  # as it stands now, whatever a later control sets

        async def later() -> None:
            await asyncio.sleep(plan.delay)
            if refund.status == "PROCESSING" and self.refunds.get(refund.out_refund_no) is refund:
                self.finish_refund(refund, plan.outcome, plan.notice, plan.notice_delay)

        if plan.outcome != "processing":
            self._spawn(later())

    def finish_refund(self, refund: Refund, outcome: str, notice: str, notice_delay: float = 0.0) -> None:
        """A PROCESSING refund ends SUCCESS, ABNORMAL or CLOSED (an ABNORMAL one the merchant had paid out
        another way, as 发起异常退款 does, later ends SUCCESS or CLOSED); its notice goes to the request's
        notify_url, if it gave one."""
        now = time.time()
        refund.status = outcome.upper()
        if refund.status == "SUCCESS":
            refund.succeeded = now
            self.orders[refund.out_trade_no].refunded = True
        if refund.notify_url and notice != "never":
            event_type, summary = refunds.EVENTS[refund.status]
            body = self.notice_body(event_type, summary, refund.notice_view(), "refund")
            wait = notice_delay or (LATE_DEFAULT if notice == "late" else 0.0)
            record = {"out_trade_no": refund.out_trade_no, "out_refund_no": refund.out_refund_no,
                      "event_type": event_type, "notify_url": refund.notify_url}
            self.send_notice(record, body, wait)
            if notice == "twice":
                self.send_notice(record, body, wait)

    # --- bills ----------------------------------------------------------------------------------------------

    def bill_lines(self) -> list[BillLine]:
        """Every payment and refund that succeeded, as bill lines, before a test's changes."""
        lines = [self.bill_line(order.out_trade_no, "SUCCESS", order.paid, order.total)
                 for order in self.orders.values() if order.trade_state == "SUCCESS" and order.paid is not None]
        lines += [self.bill_line(refund.out_trade_no, "REFUND", refund.succeeded, refund.refund,
                                 refund_id=refund.refund_id, out_refund_no=refund.out_refund_no, requested=refund.created)
                  for refund in self.refunds.values() if refund.status == "SUCCESS" and refund.succeeded is not None]
        return lines

    def bill_line(self, out_trade_no: str, kind: str, moment: float, amount: int, **refund: Any) -> BillLine:
        """A bill line of an order, filled from it (`refund`: refund_id, out_refund_no, requested); for an order
        the stand-in never saw (a line a test adds), made-up ids, JSAPI and the first appid."""
        order = self.orders.get(out_trade_no)
        if order is None:
            return BillLine(kind, moment, self.appid, self.mchid, new_transaction_id(moment), out_trade_no,
                            new_openid(), "JSAPI", "", "", amount, moment, **refund)
        paid = order.paid or moment
        return BillLine(kind, moment, order.body["appid"], self.mchid, order.transaction_id or new_transaction_id(paid),
                        out_trade_no, order.payer_openid or new_openid(), order.trade_type, order.body["description"],
                        order.body.get("attach", ""), amount, paid, **refund)

    def added_line(self, entry: dict[str, Any]) -> BillLine:
        """A line a test adds: `{"out_trade_no", "amount", "type"?, "out_refund_no"?, "time"?}`."""
        moment = parse_rfc3339(entry["time"]) if "time" in entry else time.time()
        assert moment is not None  # checked with the request
        if entry.get("type", "SUCCESS") == "SUCCESS":
            return self.bill_line(entry["out_trade_no"], "SUCCESS", moment, entry["amount"])
        return self.bill_line(entry["out_trade_no"], "REFUND", moment, entry["amount"],
                              refund_id=refunds.new_refund_id(moment), requested=moment,
                              out_refund_no=entry.get("out_refund_no") or new_out_refund_no())

    def trade_bill(self, day: dt.date, bill_type: str) -> bytes:
        """The bill of a day so far, with a test's changes; NO_STATEMENT_EXIST when it has no line."""
        lines = bills.select(self.bill_changes.apply(self.bill_lines()), day, bill_type)
        if not lines:
            raise Refused("NO_STATEMENT_EXIST")
        return bills.render(lines, bill_type)

    def keep_bill(self, content: bytes, gzipped: bool) -> str:
        """A download token for a bill, good for bills.TOKEN_LIFETIME seconds."""
        now = time.time()
        self.bill_files = {token: kept for token, kept in self.bill_files.items() if kept.expires > now}
        token, expires = secrets.token_urlsafe(48), now + bills.TOKEN_LIFETIME
        self.bill_files[token] = (BillFile(gzip.compress(content), "application/octet-stream", expires) if gzipped
                                  else BillFile(content, "text/plain; charset=utf-8", expires))
        return token

    # --- notices --------------------------------------------------------------------------------------------

    def notice_body(self, event_type: str, summary: str, plaintext: dict[str, Any], kind: str) -> bytes:
        """A notice: the plaintext encrypted with the APIv3 key, `kind` its original_type and associated_data
        ("transaction" for payments, "refund" for refunds)."""
        resource = v3.encrypt_resource(self.api_v3_key, json.dumps(plaintext, ensure_ascii=False).encode(),
                                       associated_data=kind, original_type=kind)
        notice = {"id": _notice_id(), "create_time": rfc3339(time.time()), "resource_type": "encrypt-resource",
                  "event_type": event_type, "summary": summary,
                  "resource": {key: resource[key] for key in
                               ("original_type", "algorithm", "ciphertext", "associated_data", "nonce")}}
        return json.dumps(notice, ensure_ascii=False, separators=(",", ":")).encode()

    def payment_notice(self, order: Order) -> tuple[dict[str, Any], bytes]:
        record = {"out_trade_no": order.out_trade_no, "out_refund_no": None, "event_type": "TRANSACTION.SUCCESS",
                  "notify_url": order.body["notify_url"]}
        return record, self.notice_body("TRANSACTION.SUCCESS", "支付成功", order.view(), "transaction")

    def send_notice(self, record: dict[str, Any], body: bytes, delay: float) -> None:
        """Deliver a notice (`record`: out_trade_no, out_refund_no, event_type, notify_url) and keep its
        record of attempts."""
        record = {"id": json.loads(body)["id"], **record, "attempts": [], "delivered": False, "gave_up": False}
        self.notices.append(record)
        self._spawn(self._deliver(record, body, delay))

    def _spawn(self, work: Any) -> None:
        """Run `work` (a coroutine) beside the replies; reset cancels it."""
        task = asyncio.get_running_loop().create_task(work)
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
        self.refunds.clear()
        self.refund_plan = RefundPlan(delay=self.refund_delay)
        self.notices.clear()
        self.bill_changes = BillChanges()
        self.bill_files.clear()
        self.behaviour = None


def new_transaction_id(moment: float) -> str:
    """28 digits, as WeChat Pay's transaction ids are: 4200, 6 digits, the date, 10 digits."""
    return ("4200" + f"{secrets.randbelow(10**6):06d}" + dt.datetime.fromtimestamp(moment, CHINA_TZ).strftime("%Y%m%d")
            + f"{secrets.randbelow(10**10):010d}")


def new_openid() -> str:
    """An openid's shape: 28 characters starting with o."""
    return "o" + secrets.token_urlsafe(21)[:27]


def new_out_refund_no() -> str:
    return "STANDIN" + secrets.token_hex(8).upper()


def _notice_id() -> str:
    return "EV-" + dt.datetime.now(CHINA_TZ).strftime("%Y%m%d%H%M%S") + f"{secrets.randbelow(10**8):08d}"


def validate_order(trade_type: str, body: Any) -> None:
    """A JSAPI or APP order's fields as the gateway checks them; Refused("PARAM_ERROR") naming the field."""
    if not isinstance(body, dict):
        raise Refused("PARAM_ERROR", "请求体不是 JSON 对象")
    text_field(body, "appid", 32)
    text_field(body, "mchid", 32)
    text_field(body, "description", 127)
    text_field(body, "notify_url", 255)
    text_field(body, "attach", 128, required=False)
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
        text_field(payer, "openid", 128)


def create_app(state: PayState, name: str = "wechatpay_standin") -> Sanic:
    app = Sanic(name)
    app.config.AUTO_EXTEND = False
    app.ctx.state = state

    async def gate(request: Request, refund_request: bool = False) -> HTTPResponse | None:
        """What comes before any API handler: a test-set fault, then the request signature (then a refund-only
        fault, for a well-signed refund request)."""
        behaviour = state.next_behaviour(refund_request)
        mode = behaviour.mode if behaviour is not None else None
        if mode == "down":
            return state.refused("SYSTEM_ERROR")
        if mode == "frequency_limited":
            return state.refused("FREQUENCY_LIMITED")
        if behaviour is not None and mode == "slow":
            await asyncio.sleep(behaviour.delay or 1.0)
        if behaviour is not None and mode == "late_reply":
            request.ctx.reply_after = behaviour.delay or 1.0
        if mode == "bad_signature":
            request.ctx.spoil_signature = True  # whatever this call answers, its signature will not verify
        url = request.path + (f"?{request.query_string}" if request.query_string else "")
        try:
            v3.verify_authorization(request.method, url, request.body or b"", request.headers.get("authorization", ""),
                                    find_merchant_key=state.find_merchant_key, now=time.time())
        except v3.SignatureRejected:
            return state.refused("SIGN_ERROR")
        if mode == "not_enough":
            return state.refused("NOT_ENOUGH")
        return None

    @app.on_response
    async def reply_late(request: Request, response: HTTPResponse) -> None:
        """In the late_reply mode: the call's work is done; its answer waits."""
        delay = getattr(request.ctx, "reply_after", 0.0)
        if delay:
            await asyncio.sleep(delay)

    @app.on_response
    async def spoil_signature(request: Request, response: HTTPResponse) -> None:
        """In the bad_signature mode: a well-formed RSA signature, made with the platform key, of another message."""
        if getattr(request.ctx, "spoil_signature", False) and v3.HEADER_SIGNATURE in response.headers:
            response.headers[v3.HEADER_SIGNATURE] = v3.rsa_sign(b"not this reply\n", state.platform.key)

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

    @app.post("/v3/refund/domestic/refunds")
    async def refund_apply(request: Request) -> HTTPResponse:
        if (stopped := await gate(request, refund_request=True)) is not None:
            return stopped
        try:
            refund, new = state.create_refund(json_body(request))
        except Refused as refused:
            return state.refused(refused.code, refused.detail, refused.message)
        if new:
            state.plan_refund(refund)
        return state.signed(refund.view())

    @app.get("/v3/refund/domestic/refunds/<out_refund_no:str>")
    async def refund_query(request: Request, out_refund_no: str) -> HTTPResponse:
        if (stopped := await gate(request)) is not None:
            return stopped
        refund = state.refunds.get(out_refund_no)
        return state.signed(refund.view()) if refund else state.refused("RESOURCE_NOT_EXISTS", message="退款单不存在")

    @app.get("/v3/bill/tradebill")
    async def trade_bill(request: Request) -> HTTPResponse:
        if (stopped := await gate(request)) is not None:
            return stopped
        try:
            day, bill_type, gzipped = bills.parse_query(request.args.get("bill_date"), request.args.get("bill_type"),
                                                        request.args.get("tar_type"))
            content = state.trade_bill(day, bill_type)
        except Refused as refused:
            return state.refused(refused.code, refused.detail, refused.message)
        token = state.keep_bill(content, gzipped)
        return state.signed({"hash_type": "SHA1", "hash_value": hashlib.sha1(content).hexdigest(),
                             "download_url": f"{request.scheme}://{request.host}/v3/billdownload/file?token={token}"})

    @app.get("/v3/billdownload/file")
    async def bill_download(request: Request) -> HTTPResponse:
        if (stopped := await gate(request)) is not None:
            return stopped
        kept = state.bill_files.get(request.args.get("token", ""))
        if kept is None or kept.expires <= time.time():
            return state.refused("PARAM_ERROR", "token 无效或已过期")
        # The file itself is not signed: the client checks it against hash_value instead.
        return HTTPResponse(kept.content, content_type=kept.content_type, headers={"Request-ID": secrets.token_hex(16)})

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

    def ending(body: dict[str, Any], outcomes: tuple[str, ...], delay_name: str) -> tuple[str, str, float] | None:
        """(outcome, notice, delay) a control asks for, or None when one of them is not allowed."""
        outcome, notice = body.get("outcome", "success"), body.get("notice", "now")
        try:
            delay = float(body.get(delay_name, 0.0))
        except (TypeError, ValueError):
            return None
        return (outcome, notice, delay) if outcome in outcomes and notice in NOTICE_MODES and delay >= 0 else None

    @app.post("/_standin/orders/<out_trade_no:str>/pay")
    async def pay(request: Request, out_trade_no: str) -> HTTPResponse:
        asked = ending(control_json(request), OUTCOMES, "delay")
        if asked is None:
            return _plain({"message": f"outcome one of {OUTCOMES}, notice one of {NOTICE_MODES}, delay >= 0"}, 400)
        outcome, notice, delay = asked
        order = state.orders.get(out_trade_no)
        if order is None:
            return _plain({"message": "no such order"}, 404)
        if order.trade_state != "NOTPAY":
            return _plain({"message": f"the order is {order.trade_state}"}, 409)
        state.pay(order, outcome)
        if order.trade_state == "SUCCESS" and notice != "never":
            wait = delay or (LATE_DEFAULT if notice == "late" else 0.0)
            record, notice_body = state.payment_notice(order)
            state.send_notice(record, notice_body, wait)
            if notice == "twice":  # the same notice (same id) delivered again, as a retry that crossed an answer
                state.send_notice(record, notice_body, wait)
        return _plain(order.view())

    @app.get("/_standin/orders/<out_trade_no:str>")
    async def order_view(request: Request, out_trade_no: str) -> HTTPResponse:
        order = state.orders.get(out_trade_no)
        if order is None:
            return _plain({"message": "no such order"}, 404)
        return _plain({**order.view(), "prepay_id": order.prepay_id, "notify_url": order.body["notify_url"]})

    @app.post("/_standin/refunds/next")
    async def next_refunds(request: Request) -> HTTPResponse:
        body = control_json(request)
        try:
            plan = RefundPlan(str(body.get("outcome", "success")), str(body.get("notice", "now")),
                              float(body.get("delay", state.refund_delay)), float(body.get("notice_delay", 0.0)))
        except (TypeError, ValueError):
            plan = RefundPlan("", "", -1.0)
        if (plan.outcome not in refunds.NEXT_OUTCOMES or plan.notice not in NOTICE_MODES or plan.delay < 0
                or plan.notice_delay < 0):
            return _plain({"message": f"outcome one of {refunds.NEXT_OUTCOMES}, notice one of {NOTICE_MODES}, "
                                      "delay >= 0, notice_delay >= 0"}, 400)
        state.refund_plan = plan
        return _plain(plan.view())

    @app.post("/_standin/refunds/<out_refund_no:str>/finish")
    async def finish_refund(request: Request, out_refund_no: str) -> HTTPResponse:
        asked = ending(control_json(request), refunds.OUTCOMES, "notice_delay")
        if asked is None:
            return _plain({"message": f"outcome one of {refunds.OUTCOMES}, notice one of {NOTICE_MODES}, "
                                      "notice_delay >= 0"}, 400)
        outcome, notice, notice_delay = asked
        refund = state.refunds.get(out_refund_no)
        if refund is None:
            return _plain({"message": "no such refund"}, 404)
        if refund.status not in ("PROCESSING", "ABNORMAL") or refund.status == outcome.upper():
            return _plain({"message": f"the refund is {refund.status}"}, 409)
        state.finish_refund(refund, outcome, notice, notice_delay)
        return _plain(refund_control_view(refund))

    @app.get("/_standin/refunds/<out_refund_no:str>")
    async def refund_view(request: Request, out_refund_no: str) -> HTTPResponse:
        refund = state.refunds.get(out_refund_no)
        if refund is None:
            return _plain({"message": "no such refund"}, 404)
        return _plain(refund_control_view(refund))

    @app.post("/_standin/bills/changes")
    async def change_bills(request: Request) -> HTTPResponse:
        try:
            alter, hide, add = bills.check_changes(control_json(request))
        except ValueError as wrong:
            return _plain({"message": str(wrong)}, 400)
        changes = state.bill_changes
        changes.alter.update(alter)
        changes.hide.extend(key for key in hide if key not in changes.hide)
        changes.add.extend(state.added_line(entry) for entry in add)
        return _plain(changes.view())

    @app.get("/_standin/bills/changes")
    async def bill_changes(request: Request) -> HTTPResponse:
        return _plain(state.bill_changes.view())

    @app.delete("/_standin/bills/changes")
    async def clear_bill_changes(request: Request) -> HTTPResponse:
        state.bill_changes = BillChanges()
        return _plain(state.bill_changes.view())

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
        out_trade_no, out_refund_no = request.args.get("out_trade_no"), request.args.get("out_refund_no")
        items = [n for n in state.notices if (out_trade_no is None or n["out_trade_no"] == out_trade_no)
                 and (out_refund_no is None or n["out_refund_no"] == out_refund_no)]
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


def refund_control_view(refund: Refund) -> dict[str, Any]:
    """The refund as the query answers it, with what the request asked (notify_url, reason)."""
    return {**refund.view(), "notify_url": refund.notify_url, "reason": refund.body.get("reason")}


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
    parser.add_argument("--refund-delay", type=float, default=refunds.DEFAULT_DELAY,
                        help="seconds a new refund stays PROCESSING before it succeeds (controls may change it)")
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
                     args.merchant_serial, retry_intervals, args.refund_delay)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    app = create_app(state)
    print(f"LISTENING {sock.getsockname()[1]}", flush=True)
    print(f"PLATFORM_SERIAL {state.platform.serial}", flush=True)
    app.run(sock=sock, single_process=True, access_log=False, motd=False)
