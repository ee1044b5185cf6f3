"""WeChat Pay API v3 (微信支付 APIv3), the payment provider adapter, as published at pay.weixin.qq.com.

Operations and paths (JSON over HTTPS, amounts in integer fen, times RFC 3339 with +08:00):

- `POST /v3/pay/transactions/jsapi` (mini-program, `payer.openid`) and `/app` (phone app) → `prepay_id`;
  the client then pays with `wx.requestPayment` / the open SDK, whose parameters we sign (`client_params`).
- `GET /v3/pay/transactions/out-trade-no/{out_trade_no}?mchid=` and `POST …/{out_trade_no}/close`.
- `POST /v3/refund/domestic/refunds`, `GET /v3/refund/domestic/refunds/{out_refund_no}`.
- `GET /v3/bill/tradebill?bill_date=&bill_type=ALL` → `download_url`, fetched signed and checked by SHA-1.
- `GET /v3/certificates`: the platform certificates, decrypted with the APIv3 key (when no WeChat Pay public
  key is pinned by setting).
- Notices (`TRANSACTION.SUCCESS`, `REFUND.*`) POSTed to our notify_url, signed like replies, their
  resource encrypted with AEAD_AES_256_GCM.

Every request is signed with the merchant's RSA key; every reply (errors too) and every notice must carry
the platform's signature over exactly its bytes, within 5 minutes of our clock, or it is not believed
(`wechatpay_v3` holds the cryptography). A reply that does not verify counts as no answer.

Error codes, mapped to what the payment service needs (both spellings the documentation uses):
ORDERPAID/ORDER_PAID → ORDER_PAID; ORDER_CLOSED/ORDERCLOSED → ORDER_CLOSED; ORDER_NOT_EXIST/ORDERNOTEXIST/
RESOURCE_NOT_EXISTS → not found; NOT_ENOUGH/NOTENOUGH → INSUFFICIENT_FUNDS; NO_STATEMENT_EXIST → no bill;
FREQUENCY_LIMITED (or HTTP 429) → throttled; SYSTEM_ERROR/SYSTEMERROR/BANKERROR/STATEMENT_CREATING, any
5xx, a timeout or a reply that does not verify → unavailable; SIGN_ERROR/NO_AUTH/APPID_MCHID_NOT_MATCH/
MCH_NOT_EXISTS (or HTTP 401) → misconfigured; every other 4xx (USER_ACCOUNT_ABNORMAL, OUT_TRADE_NO_USED,
TRADE_ERROR, RULE_LIMIT, …: this request refused, not our set-up) → INVALID_REQUEST.

Why not the `wechatpayv3` library (2.0.4), although it has an async client on httpx: its gateway is a
private attribute fixed to api.mch.weixin.qq.com (pointing it at a stand-in means patching it), it checks
the signature of 2xx replies only (a 4xx such as ORDERPAID from anyone in between would be believed) and
not that of the certificate download, it keeps certificates in files, and it hands back (status, text)
with no error mapping. Its signing and decryption agree with ours (test_wechatpay_v3_crypto.py), and it
pays through our stand-in (test_wechatpay_sdk_interop.py).
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import logging
import os
import re
import time
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping
from urllib.parse import urlencode, urlsplit

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.clock import CHINA_TZ
from app.integrations import (ProviderError, ProviderMisconfigured, ProviderThrottled, ProviderUnavailable, reported,
                              http_client)
from app.integrations.payment_providers import (INSUFFICIENT_FUNDS, INVALID_REQUEST, NO_BILL, ORDER_CLOSED,
                                                ORDER_NOT_FOUND, ORDER_PAID, BillLine, Channel, CreatedOrder,
                                                NoticeRejected, OrderRequest, OrderStatus, PaymentNotice,
                                                ProviderOrder, ProviderRefund, ProviderRefused, RefundStatus)
from app.integrations.payment_providers import wechatpay_v3 as v3

if TYPE_CHECKING:
    from app.config import Settings

log = logging.getLogger("app.integrations.wechatpay")

OUT_TRADE_NO = re.compile(r"[A-Za-z0-9_*|\-]{6,32}")
OUT_REFUND_NO = re.compile(r"[A-Za-z0-9_\-|*@]{1,64}")
WECHATPAY_API_HOSTS = ("api.mch.weixin.qq.com", "api2.mch.weixin.qq.com")  # the main and the backup domain
CERTIFICATE_REFRESH_GAP = 60.0  # seconds between downloads of the platform certificates for unknown serials
DEFAULT_THROTTLE = 5  # seconds to wait after FREQUENCY_LIMITED when no Retry-After came

_REFUSALS = {
    "ORDERPAID": ORDER_PAID, "ORDER_PAID": ORDER_PAID,
    "ORDER_CLOSED": ORDER_CLOSED, "ORDERCLOSED": ORDER_CLOSED,
    "ORDER_NOT_EXIST": ORDER_NOT_FOUND, "ORDERNOTEXIST": ORDER_NOT_FOUND, "RESOURCE_NOT_EXISTS": ORDER_NOT_FOUND,
    "NOT_ENOUGH": INSUFFICIENT_FUNDS, "NOTENOUGH": INSUFFICIENT_FUNDS,
    "NO_STATEMENT_EXIST": NO_BILL,
}
_UNAVAILABLE = {"SYSTEM_ERROR", "SYSTEMERROR", "BANKERROR", "BANK_ERROR", "STATEMENT_CREATING"}
_MISCONFIGURED = {"SIGN_ERROR", "NO_AUTH", "APPID_MCHID_NOT_MATCH", "MCH_NOT_EXISTS", "MCHID_NOT_EXIST"}
_ORDER_STATES: dict[str, OrderStatus] = {
    "SUCCESS": "paid", "REFUND": "refunded", "NOTPAY": "unpaid", "USERPAYING": "unpaid",
    "CLOSED": "closed", "REVOKED": "closed", "PAYERROR": "failed",
}
_REFUND_STATES: dict[str, RefundStatus] = {
    "SUCCESS": "succeeded", "PROCESSING": "processing", "CLOSED": "failed", "ABNORMAL": "abnormal",
}
BILL_TIME, BILL_ORDER, BILL_TRANSACTION, BILL_STATE = "交易时间", "商户订单号", "微信订单号", "交易状态"
BILL_CURRENCY, BILL_REFUND_NO, BILL_TOTAL, BILL_SETTLED = "货币种类", "商户退款单号", "订单金额", "应结订单金额"
BILL_REFUNDED, BILL_SUMMARY = "退款金额", "总交易单数"
BILL_REFUND_STATE = "退款状态"
_YUAN = re.compile(r"[0-9]{1,12}\.[0-9]{2}")


@dataclass(frozen=True)
class WeChatPayAccount:
    """Our merchant account: mchid, the API key and its certificate serial, the APIv3 key, the appids."""

    mchid: str
    merchant_key: v3.PrivateKey
    merchant_serial: str
    api_v3_key: bytes
    appids: Mapping[str, str]  # channel → appid: "jsapi" the mini-program's, "app" the phone app's

    def __repr__(self) -> str:
        return f"WeChatPayAccount(mchid={self.mchid!r}, merchant_serial={self.merchant_serial!r})"


def _json_bytes(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _strict_fen(value: Any) -> int:
    """Amounts are integer fen: anything else from the gateway is an unreadable reply, never rounded."""
    if type(value) is not int or value < 0:
        raise ProviderUnavailable("amount_not_fen")
    return value


def _time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=CHINA_TZ)


def rfc3339_beijing(moment: datetime) -> str:
    """A time as WeChat Pay writes it: `2018-06-08T10:34:56+08:00`."""
    return moment.astimezone(CHINA_TZ).replace(microsecond=0).isoformat()


def order_from(transaction: Mapping[str, Any]) -> ProviderOrder:
    """A transaction (query reply or TRANSACTION notice) in the service's words."""
    try:
        amount = transaction["amount"]
        state = _ORDER_STATES[str(transaction["trade_state"])]
        return ProviderOrder(str(transaction["out_trade_no"]), transaction.get("transaction_id") or None,
                             _strict_fen(amount["total"]), str(amount.get("currency", "CNY")), state,
                             _time(transaction.get("success_time")))
    except (KeyError, TypeError):
        raise ProviderUnavailable("transaction_unreadable") from None


def refund_from(refund: Mapping[str, Any]) -> ProviderRefund:
    """A refund (reply or REFUND notice, which names its status `refund_status`) in the service's words."""
    try:
        status = _REFUND_STATES[str(refund.get("status") or refund["refund_status"])]
        return ProviderRefund(str(refund["out_refund_no"]), str(refund["out_trade_no"]), refund.get("refund_id") or None,
                              _strict_fen(refund["amount"]["refund"]), status, _time(refund.get("success_time")))
    except (KeyError, TypeError):
        raise ProviderUnavailable("refund_unreadable") from None


def _fen(yuan: str) -> int:
    """`1.50` → 150, exactly: a bill amount in any other form makes the bill unreadable."""
    if not _YUAN.fullmatch(yuan):
        raise ProviderUnavailable("bill_amount")
    try:
        return int(Decimal(yuan) * 100)
    except InvalidOperation:
        raise ProviderUnavailable("bill_amount") from None


def parse_trade_bill(text: str) -> list[BillLine]:
    """The lines of a trade bill (交易账单) as WeChat Pay publishes the file: a header row, one row per trade
    with every field prefixed by a backtick, amounts in yuan, then the summary (总交易单数) rows."""
    rows = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = next(rows, None)
    if not header:
        return []
    names = [name.strip() for name in header]
    try:
        column = {name: names.index(name) for name in (BILL_TIME, BILL_ORDER, BILL_TRANSACTION, BILL_STATE,
                                                       BILL_CURRENCY, BILL_REFUND_NO, BILL_SETTLED, BILL_REFUNDED,
                                                       BILL_REFUND_STATE)}
    except ValueError:
        raise ProviderUnavailable("bill_header") from None
    optional = {name: names.index(name) for name in (BILL_TOTAL,) if name in names}
    lines: list[BillLine] = []
    for row in rows:
        cells = [cell.strip().removeprefix("`") for cell in row]
        if not any(cells):
            continue
        if cells[0] == BILL_SUMMARY:
            break
        if len(cells) < len(names):
            raise ProviderUnavailable("bill_row")

        def cell(name: str) -> str:
            return cells[column[name] if name in column else optional[name]]

        at = _bill_time(cell(BILL_TIME))
        if cell(BILL_STATE) == "REFUND":
            if cell(BILL_REFUND_STATE) not in ("SUCCESS", ""):
                continue  # PROCESSING, CHANGE (abnormal), REFUNDCLOSE: no money went back that day
            amount = cell(BILL_REFUNDED)
            lines.append(BillLine("refund", cell(BILL_ORDER), cell(BILL_TRANSACTION), cell(BILL_REFUND_NO),
                                  _fen(amount), cell(BILL_CURRENCY), at))
        else:
            amount = cell(BILL_TOTAL) if BILL_TOTAL in optional else cell(BILL_SETTLED)
            lines.append(BillLine("payment", cell(BILL_ORDER), cell(BILL_TRANSACTION), "", _fen(amount),
                                  cell(BILL_CURRENCY), at))
    return lines


def _bill_time(text: str) -> datetime | None:
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=CHINA_TZ)
    except ValueError:
        return None


class WeChatPay:
    """The adapter: one connection pool, calls bounded by `timeout` seconds."""

    name = "wechatpay_v3"
    notice_challenge = f'{v3.AUTH_SCHEME} realm="payment-provider"'

    def __init__(self, base_url: str, account: WeChatPayAccount, *, platform_keys: Mapping[str, v3.PublicKey] | None = None,
                 timeout: float = 5.0, wall_clock: Callable[[], float] = time.time,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.account = account
        self._pinned = platform_keys is not None
        self._platform_keys: dict[str, v3.PublicKey] = dict(platform_keys or {})
        self._refreshed_at = 0.0
        self._refresh_lock = asyncio.Lock()
        self._now = wall_clock  # signatures are fresh by the wall clock, as the gateway's own clock keeps it
        self._http = http_client(base_url=self.base_url, timeout=timeout, transport=transport,
                                 headers={"Accept": "application/json", "User-Agent": "gd-gov-app/1 wechatpay-v3"})

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- signatures ----------------------------------------------------------------------------------
    def _authorization(self, method: str, target: str, body: bytes) -> str:
        return v3.build_authorization(method, target, body, mchid=self.account.mchid,
                                      serial_no=self.account.merchant_serial, private_key=self.account.merchant_key,
                                      timestamp=int(self._now()), nonce=v3.new_nonce())

    async def _verified(self, headers: Mapping[str, str], body: bytes) -> v3.VerifiedSignature:
        """The platform signature on a reply or notice (an unknown serial fetches the certificates once)."""
        serial = headers.get(v3.HEADER_SERIAL) or headers.get(v3.HEADER_SERIAL.lower()) or ""
        if serial and serial not in self._platform_keys and not self._pinned:
            await self._refresh_certificates()
        return v3.verify_signature(headers, body, self._platform_keys.get, self._now())

    async def _refresh_certificates(self) -> None:
        """Download the platform certificates (`GET /v3/certificates`), each decrypted with the APIv3 key; at
        most once a minute, so a flood of made-up serials cannot make us hammer the gateway."""
        async with self._refresh_lock:
            if self._now() - self._refreshed_at < CERTIFICATE_REFRESH_GAP:
                return
            self._refreshed_at = self._now()
            status, headers, body = await self._send("GET", "/v3/certificates")
            if status == 429:
                raise ProviderThrottled("FREQUENCY_LIMITED", _retry_after(headers))
            if status != 200:
                raise ProviderUnavailable(f"certificates_{status}")
            found: dict[str, v3.PublicKey] = {}
            try:
                for entry in json.loads(body)["data"]:
                    pem = v3.decrypt_resource(self.account.api_v3_key, entry["encrypt_certificate"])
                    certificate = v3.load_certificate(pem)
                    if v3.certificate_serial(certificate) != str(entry["serial_no"]).upper():
                        continue
                    if not certificate.not_valid_before_utc.timestamp() <= self._now() <= \
                            certificate.not_valid_after_utc.timestamp():
                        continue
                    key = certificate.public_key()
                    if isinstance(key, rsa.RSAPublicKey):
                        found[v3.certificate_serial(certificate)] = key
            except (ValueError, KeyError, TypeError, v3.DecryptionFailed):
                raise ProviderUnavailable("certificates_unreadable") from None
            try:  # the download proves itself: its reply must verify with one of the certificates it holds
                v3.verify_signature(headers, body, found.get, self._now())
            except v3.SignatureRejected as bad:
                raise ProviderUnavailable(f"certificates_signature:{bad.reason}") from None
            self._platform_keys = found  # what the platform no longer lists (expired, revoked) is forgotten

    # -- calls ---------------------------------------------------------------------------------------
    async def _send(self, method: str, path: str, params: Mapping[str, str] | None = None,
                    payload: Any = None) -> tuple[int, httpx.Headers, bytes]:
        target = path + (f"?{urlencode(params)}" if params else "")
        body = _json_bytes(payload) if payload is not None else b""
        headers = {"Authorization": self._authorization(method, target, body)}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        try:
            answer = await self._http.request(method, target, content=body, headers=headers)
        except httpx.TimeoutException:
            raise ProviderUnavailable("timeout") from None
        except httpx.HTTPError:
            raise ProviderUnavailable("unreachable") from None
        return answer.status_code, answer.headers, answer.content

    async def _call(self, method: str, path: str, params: Mapping[str, str] | None = None,
                    payload: Any = None) -> tuple[int, Any]:
        """(status, JSON body or None) of a verified 2xx reply; every other reply as one of our errors."""
        with reported("wechatpay"):
            return await self._verified_call(method, path, params, payload)

    async def _verified_call(self, method: str, path: str, params: Mapping[str, str] | None,
                             payload: Any) -> tuple[int, Any]:
        status, headers, body = await self._send(method, path, params, payload)
        if status >= 500:
            raise ProviderUnavailable(f"http_{status}")
        if status == 429:
            raise ProviderThrottled("FREQUENCY_LIMITED", _retry_after(headers))
        try:
            await self._verified(headers, body)
        except v3.SignatureRejected as bad:
            raise ProviderUnavailable(f"reply_signature:{bad.reason}") from None
        try:
            data = json.loads(body) if body else None
        except ValueError:
            raise ProviderUnavailable("reply_not_json") from None
        if status >= 400:
            raise _refusal(status, data, headers)
        return status, data

    # -- orders --------------------------------------------------------------------------------------
    async def create_order(self, order: OrderRequest) -> CreatedOrder:
        if not OUT_TRADE_NO.fullmatch(order.merchant_order_id):
            raise ValueError("out_trade_no is 6-32 of letters, digits, _-|*")
        if order.channel == "jsapi" and not order.payer:
            raise ValueError("a JSAPI order needs the payer's openid")
        payload: dict[str, Any] = {
            "appid": self.account.appids[order.channel], "mchid": self.account.mchid,
            "description": order.description[:127], "out_trade_no": order.merchant_order_id,
            "time_expire": rfc3339_beijing(order.expire_at), "notify_url": order.notify_url,
            "amount": {"total": order.amount_fen, "currency": order.currency},
        }
        if order.channel == "jsapi":
            payload["payer"] = {"openid": order.payer}
        _, data = await self._call("POST", f"/v3/pay/transactions/{order.channel}", payload=payload)
        prepay_id = data.get("prepay_id") if isinstance(data, dict) else None
        if not isinstance(prepay_id, str) or not prepay_id:
            raise ProviderUnavailable("no_prepay_id")
        return CreatedOrder(order.merchant_order_id, prepay_id, self.client_params(order.channel, prepay_id))

    def client_params(self, channel: Channel, prepay_id: str) -> dict[str, str]:
        appid, key, now, nonce = self.account.appids[channel], self.account.merchant_key, int(self._now()), v3.new_nonce()
        if channel == "jsapi":
            return v3.jsapi_request_payment(appid, prepay_id, private_key=key, timestamp=now, nonce=nonce)
        return v3.app_pay_request(appid, self.account.mchid, prepay_id, private_key=key, timestamp=now, nonce=nonce)

    async def query_order(self, merchant_order_id: str) -> ProviderOrder | None:
        try:
            _, data = await self._call("GET", f"/v3/pay/transactions/out-trade-no/{merchant_order_id}",
                                       params={"mchid": self.account.mchid})
        except ProviderRefused as refused:
            if refused.code == ORDER_NOT_FOUND:
                return None
            raise
        return order_from(data)

    async def close_order(self, merchant_order_id: str) -> None:
        await self._call("POST", f"/v3/pay/transactions/out-trade-no/{merchant_order_id}/close",
                         payload={"mchid": self.account.mchid})

    # -- refunds -------------------------------------------------------------------------------------
    async def refund(self, merchant_order_id: str, merchant_refund_id: str, amount_fen: int, total_fen: int,
                     reason: str, notify_url: str) -> ProviderRefund:
        if not OUT_REFUND_NO.fullmatch(merchant_refund_id):
            raise ValueError("out_refund_no is 1-64 of letters, digits, _-|*@")
        payload = {"out_trade_no": merchant_order_id, "out_refund_no": merchant_refund_id, "reason": reason[:80],
                   "notify_url": notify_url, "amount": {"refund": amount_fen, "total": total_fen, "currency": "CNY"}}
        _, data = await self._call("POST", "/v3/refund/domestic/refunds", payload=payload)
        return refund_from(data)

    async def query_refund(self, merchant_refund_id: str) -> ProviderRefund | None:
        try:
            _, data = await self._call("GET", f"/v3/refund/domestic/refunds/{merchant_refund_id}")
        except ProviderRefused as refused:
            if refused.code == ORDER_NOT_FOUND:
                return None
            raise
        return refund_from(data)

    # -- the daily trade bill ------------------------------------------------------------------------
    async def bill(self, day: date) -> list[BillLine]:
        try:
            _, data = await self._call("GET", "/v3/bill/tradebill",
                                       params={"bill_date": day.isoformat(), "bill_type": "ALL"})
        except ProviderRefused as refused:
            if refused.code == NO_BILL:
                return []
            raise
        try:
            url, hash_type, digest = urlsplit(str(data["download_url"])), data["hash_type"], str(data["hash_value"])
        except (KeyError, TypeError):
            raise ProviderUnavailable("bill_reply") from None
        if hash_type != "SHA1" or not self._same_gateway(url.scheme, url.netloc):
            raise ProviderUnavailable("bill_download_url")  # our signed request goes to the gateway only
        status, _, content = await self._send("GET", url.path + (f"?{url.query}" if url.query else ""))
        if status != 200:
            raise ProviderUnavailable(f"bill_download_{status}")
        if hashlib.sha1(content).hexdigest().lower() != digest.lower():
            raise ProviderUnavailable("bill_digest")
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            raise ProviderUnavailable("bill_encoding") from None
        return parse_trade_bill(text)

    def _same_gateway(self, scheme: str, netloc: str) -> bool:
        """A download URL on our gateway's host, or on another of WeChat Pay's API domains (api / api2)."""
        ours = urlsplit(self.base_url)
        if (scheme, netloc) == (ours.scheme, ours.netloc):
            return True
        return scheme == "https" == ours.scheme and netloc in WECHATPAY_API_HOSTS and ours.netloc in WECHATPAY_API_HOSTS

    # -- notices -------------------------------------------------------------------------------------
    def acknowledge(self, outcome: str) -> tuple[bytes, str]:
        """WeChat Pay takes any 200 or 204 as received; the body says what we did, for its logs and ours."""
        return _json_bytes({"code": "SUCCESS", "outcome": outcome}), "application/json"

    async def read_notice(self, headers: Mapping[str, str], body: bytes) -> PaymentNotice:
        try:
            signed = await self._verified(headers, body)
        except v3.SignatureRejected as bad:
            raise NoticeRejected(f"signature:{bad.reason}", 401) from None
        except ProviderError:  # the certificates could not be fetched: the serial stays unknown
            raise NoticeRejected("signature:unknown_serial", 401) from None
        try:
            notice = json.loads(body)
            event_type, resource = str(notice["event_type"]), notice["resource"]
            notice_id = str(notice["id"])[:64]
            if not isinstance(resource, dict):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise NoticeRejected("malformed", 400) from None
        try:
            plain = json.loads(v3.decrypt_resource(self.account.api_v3_key, resource))
        except v3.DecryptionFailed as failed:
            raise NoticeRejected(f"decrypt:{failed.reason}", 400) from None
        except ValueError:
            raise NoticeRejected("decrypt:not_json", 400) from None
        if not isinstance(plain, dict) or plain.get("mchid") not in (None, self.account.mchid):
            raise NoticeRejected("other_merchant", 400)
        replay_key = f"{signed.serial}:{signed.timestamp}:{signed.nonce}"
        digest = hashlib.sha256(body).hexdigest()
        try:
            if event_type.startswith("TRANSACTION."):
                return PaymentNotice(notice_id, event_type, order=order_from(plain), replay_key=replay_key,
                                     raw_digest=digest)
            if event_type.startswith("REFUND."):
                return PaymentNotice(notice_id, event_type, refund=refund_from(plain), replay_key=replay_key,
                                     raw_digest=digest)
        except ProviderUnavailable as unreadable:
            raise NoticeRejected(unreadable.code, 400) from None
        raise NoticeRejected("event_type", 400)


def _retry_after(headers: Mapping[str, str]) -> int:
    try:
        return max(1, min(3600, int(headers.get("retry-after", DEFAULT_THROTTLE))))
    except ValueError:
        return DEFAULT_THROTTLE


def _refusal(status: int, data: Any, headers: Mapping[str, str]) -> Exception:
    code = str(data.get("code", "")) if isinstance(data, dict) else ""
    if code == "FREQUENCY_LIMITED":
        return ProviderThrottled(code, _retry_after(headers))
    if code in _UNAVAILABLE:
        return ProviderUnavailable(code)
    if code in _MISCONFIGURED or status == 401:
        log.error("WeChat Pay refused our request as misconfigured: %s (HTTP %s)", code or "-", status)
        return ProviderMisconfigured(code or f"http_{status}")
    if code in _REFUSALS:
        return ProviderRefused(_REFUSALS[code], code)
    if status == 404:
        return ProviderRefused(ORDER_NOT_FOUND, code)
    return ProviderRefused(INVALID_REQUEST, code or f"http_{status}")


# -- settings -----------------------------------------------------------------------------------------

MERCHANT_KEY_FILE = "wechatpay_apiclient_key.pem"
MERCHANT_PUBLIC_KEY_FILE = "wechatpay_apiclient_pub.pem"


def merchant_key_path(settings: Settings) -> Path:
    """APP_PAYMENT_MERCHANT_KEY_FILE, or outside production a key generated once under the keys folder."""
    if settings.payments.merchant_key_file:
        return Path(settings.payments.merchant_key_file)
    path = settings.resolved_keys_dir / MERCHANT_KEY_FILE
    if not path.exists() and not settings.production:
        _write_dev_merchant_key(path)
    return path


def merchant_public_key_path(settings: Settings) -> Path:
    """The public half of the merchant key, beside it (what a stand-in gateway checks our requests with)."""
    private = load_merchant_key(settings)
    path = merchant_key_path(settings).with_name(MERCHANT_PUBLIC_KEY_FILE)
    pem = private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    if not path.exists() or path.read_bytes() != pem:
        _write_private(path, pem, replace=True)
    return path


def load_merchant_key(settings: Settings) -> v3.PrivateKey:
    return v3.load_private_key(merchant_key_path(settings).read_bytes())


def merchant_serial(settings: Settings, key: v3.PrivateKey) -> str:
    """APP_PAYMENT_MERCHANT_SERIAL, or outside production one derived from the key (upper-case hex, 40 digits)."""
    if settings.payments.merchant_serial:
        return settings.payments.merchant_serial
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha1(der).hexdigest().upper()


def _write_dev_merchant_key(path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    _write_private(path, pem, replace=False)


def write_merchant_key(folder: Path) -> tuple[Path, Path]:
    """A new merchant key pair in `folder` (0600): the private PEM and the public PEM, for a stand-in gateway."""
    private = folder / MERCHANT_KEY_FILE
    _write_dev_merchant_key(private)
    key = v3.load_private_key(private.read_bytes())
    public = folder / MERCHANT_PUBLIC_KEY_FILE
    _write_private(public, key.public_key().public_bytes(serialization.Encoding.PEM,
                                                         serialization.PublicFormat.SubjectPublicKeyInfo), replace=True)
    return private, public


def _write_private(path: Path, content: bytes, *, replace: bool) -> None:
    """A 0600 file; unless `replace`, one another process wrote first stands."""
    from app.file_modes import make_private_dir

    make_private_dir(path.parent)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
    if replace:
        os.replace(temporary, path)
        return
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(temporary)


def from_settings(settings: Settings) -> WeChatPay:
    """The adapter at APP_PAYMENT_PROVIDER_URL with our merchant account from settings; ConfigError naming the
    setting when a key file cannot be read as the key it should hold."""
    from app.config import ConfigError

    try:
        key = load_merchant_key(settings)
    except (OSError, ValueError, TypeError) as failure:
        raise ConfigError(f"APP_PAYMENT_MERCHANT_KEY_FILE: not an RSA private key in PEM ({type(failure).__name__})") from None
    account = WeChatPayAccount(settings.payments.merchant_id, key, merchant_serial(settings, key),
                               settings.payments.api_v3_key.encode("utf-8"),
                               {"jsapi": settings.miniprogram.appid, "app": settings.payments.app_appid})
    pinned = None
    if settings.payments.platform_public_key_file:
        try:
            public = v3.load_public_key(Path(settings.payments.platform_public_key_file).read_bytes())
        except (OSError, ValueError, TypeError) as failure:
            raise ConfigError("APP_PAYMENT_PLATFORM_PUBLIC_KEY_FILE: not an RSA public key or certificate in PEM "
                              f"({type(failure).__name__})") from None
        pinned = {settings.payments.platform_public_key_id: public}
    return WeChatPay(settings.payments.provider_url, account, platform_keys=pinned,
                     timeout=settings.payments.provider_timeout)
