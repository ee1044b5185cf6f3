"""The payment-provider adapter (支付渠道): one interface in front of providers, and its HTTP implementation.

`PaymentProvider` is what the payment service needs from any provider (WeChat Pay, Alipay, UnionPay
all offer the same operations): create an order, query it, close it, refund, query a refund, the daily
statement, and verification of what the provider sends us. `HttpPaymentProvider` speaks the protocol
of the stand-in (`app.payments.standin_provider`), which is shaped like WeChat Pay v3:

- our calls carry a short HS256 JWT by the merchant key (`iss` merchant id, `iat`, `jti`, `body_sha256`);
- the provider signs its replies (`Payment-Signature`) and notifications (`Authorization: Bearer`) with
  its own ES256 key: we verify with its public key (pinned by setting, or fetched from its `/v1/keys`).
  Asymmetric on purpose: a leak of our merchant secret does not let anyone forge a "paid" notice.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import secrets
import time
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

import httpx
import jwt
from jwt.algorithms import ECAlgorithm

# Seconds a signed notice or reply may be from our clock. Freshness of the other party's signatures (and
# of our tokens to it) is judged by the wall clock, which is what the provider's own clock keeps; the
# service clock that tests move decides our business times (expiry, settling), not transport freshness.
NOTICE_CLOCK_SKEW = 300


class ProviderUnavailable(RuntimeError):
    """The provider did not answer usefully (timeout, 5xx, a reply that does not verify)."""


class ProviderRefused(RuntimeError):
    """The provider answered and said no (its own code, e.g. NOT_ENOUGH, ORDER_PAID)."""

    def __init__(self, code: str, status: int) -> None:
        super().__init__(code)
        self.code, self.status = code, status


class SignatureInvalid(ValueError):
    """A notice or reply whose signature, signer, time or body digest does not check out; `reason` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ProviderOrder:
    merchant_order_id: str
    provider_order_id: str | None
    amount_fen: int
    currency: str
    status: str  # NOTPAY, SUCCESS, PAYERROR, CLOSED, REFUND
    pay_url: str | None = None
    paid_at: str | None = None


@dataclass(frozen=True)
class ProviderRefund:
    merchant_refund_id: str
    merchant_order_id: str
    provider_refund_id: str | None
    amount_fen: int
    status: str  # PROCESSING, SUCCESS, FAILED


@dataclass(frozen=True)
class StatementLine:
    """One line of the provider daily statement (对账单)."""

    trade_time: str
    type: str  # PAY or REFUND
    merchant_order_id: str
    provider_order_id: str
    merchant_refund_id: str
    amount_fen: int
    currency: str
    status: str


class PaymentProvider(Protocol):
    name: str

    async def create_order(self, merchant_order_id: str, amount_fen: int, currency: str, description: str,
                           notify_url: str, expire_at: datetime) -> ProviderOrder: ...
    async def query_order(self, merchant_order_id: str) -> ProviderOrder | None: ...
    async def close_order(self, merchant_order_id: str) -> ProviderOrder: ...
    async def refund(self, merchant_order_id: str, merchant_refund_id: str, amount_fen: int,
                     notify_url: str) -> ProviderRefund: ...
    async def query_refund(self, merchant_refund_id: str) -> ProviderRefund | None: ...
    async def statement(self, day: date) -> list[StatementLine]: ...
    async def verify_signed(self, token: str, body: bytes) -> dict[str, Any]: ...


def _order(data: dict[str, Any]) -> ProviderOrder:
    return ProviderOrder(str(data["merchant_order_id"]), data.get("provider_order_id"), _strict_int(data["amount_fen"]),
                         str(data["currency"]), str(data["status"]), data.get("pay_url"), data.get("paid_at"))


def _refund(data: dict[str, Any]) -> ProviderRefund:
    return ProviderRefund(str(data["merchant_refund_id"]), str(data["merchant_order_id"]), data.get("provider_refund_id"),
                          _strict_int(data["amount_fen"]), str(data["status"]))


def _strict_int(value: Any) -> int:
    """Amounts are integer fen: a float or a string from the provider is an error, never rounded."""
    if type(value) is not int:
        raise ProviderUnavailable("amount is not an integer number of fen")
    return value


class HttpPaymentProvider:
    """The provider over HTTPS; every call is bounded by `timeout` seconds."""

    name = "sample-pay"

    def __init__(self, base_url: str, merchant_id: str, merchant_key: str, *, provider_id: str = "sample-pay",
                 public_jwk: dict[str, Any] | None = None, timeout: float = 5.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url, self.merchant_id, self.merchant_key = base_url.rstrip("/"), merchant_id, merchant_key
        self.provider_id, self.timeout, self.transport = provider_id, timeout, transport
        self._pinned = public_jwk
        self._keys: dict[str, Any] = {}
        if public_jwk is not None:
            self._keys[public_jwk.get("kid", "")] = ECAlgorithm.from_jwk(json.dumps(public_jwk))

    # -- signatures ----------------------------------------------------------------------------------
    def _merchant_token(self, body: bytes) -> str:
        claims = {"iss": self.merchant_id, "iat": int(time.time()), "jti": secrets.token_hex(16),
                  "body_sha256": hashlib.sha256(body).hexdigest()}
        return jwt.encode(claims, self.merchant_key, algorithm="HS256")

    async def _key(self, kid: str) -> Any:
        if kid not in self._keys and self._pinned is None:  # a new key (rotation): fetch the JWKS again
            async with self._client() as http:
                try:
                    answer = await http.get("/v1/keys")
                    answer.raise_for_status()
                    for jwk in answer.json().get("keys", []):
                        if jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
                            self._keys[jwk["kid"]] = ECAlgorithm.from_jwk(json.dumps(jwk))
                except (httpx.HTTPError, ValueError, KeyError) as failure:
                    raise ProviderUnavailable(f"provider keys: {type(failure).__name__}") from None
        key = self._keys.get(kid)
        if key is None:
            raise SignatureInvalid("unknown_key")
        return key

    async def verify_signed(self, token: str, body: bytes) -> dict[str, Any]:
        """The claims of a provider signature over `body`, or SignatureInvalid with the reason."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise SignatureInvalid("malformed") from None
        if header.get("alg") != "ES256":
            raise SignatureInvalid("algorithm")
        key = await self._key(str(header.get("kid", "")))
        try:
            claims = jwt.decode(token, key, algorithms=["ES256"], options={"require": ["iat", "jti", "iss"]})
        except jwt.PyJWTError:
            raise SignatureInvalid("signature") from None
        if claims.get("iss") != self.provider_id:
            raise SignatureInvalid("issuer")
        if abs(time.time() - float(claims["iat"])) > NOTICE_CLOCK_SKEW:
            raise SignatureInvalid("stale")
        if claims.get("body_sha256") != hashlib.sha256(body).hexdigest():
            raise SignatureInvalid("body_digest")
        return claims

    # -- calls ---------------------------------------------------------------------------------------
    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout, transport=self.transport)

    async def _call(self, method: str, path: str, payload: dict[str, Any] | None = None,
                    params: dict[str, str] | None = None) -> tuple[int, bytes]:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8") if payload is not None else b""
        headers = {"Authorization": f"Bearer {self._merchant_token(body)}"}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        try:
            async with self._client() as http:
                answer = await http.request(method, path, content=body, headers=headers, params=params)
        except httpx.HTTPError as failure:
            raise ProviderUnavailable(type(failure).__name__) from None
        if answer.status_code >= 500 or answer.status_code == 401:
            raise ProviderUnavailable(f"provider answered {answer.status_code}")
        try:  # only what the provider signed is believed: a proxy or attacker in between changes nothing
            await self.verify_signed(answer.headers.get("payment-signature", ""), answer.content)
        except SignatureInvalid as bad:
            raise ProviderUnavailable(f"provider reply signature: {bad.reason}") from None
        return answer.status_code, answer.content

    async def _json(self, method: str, path: str, payload: dict[str, Any] | None = None,
                    missing_ok: bool = False) -> dict[str, Any] | None:
        status, content = await self._call(method, path, payload)
        try:
            data = json.loads(content)
        except ValueError:
            raise ProviderUnavailable("reply is not JSON") from None
        if status == 404 and missing_ok:
            return None
        if status >= 400:
            raise ProviderRefused(str(data.get("code", "REFUSED")), status)
        return data

    async def create_order(self, merchant_order_id: str, amount_fen: int, currency: str, description: str,
                           notify_url: str, expire_at: datetime) -> ProviderOrder:
        data = await self._json("POST", "/v1/orders", {
            "merchant_order_id": merchant_order_id, "amount_fen": amount_fen, "currency": currency,
            "description": description, "notify_url": notify_url, "expire_at": expire_at.isoformat()})
        assert data is not None
        return _order(data)

    async def query_order(self, merchant_order_id: str) -> ProviderOrder | None:
        data = await self._json("GET", f"/v1/orders/{merchant_order_id}", missing_ok=True)
        return _order(data) if data is not None else None

    async def close_order(self, merchant_order_id: str) -> ProviderOrder:
        data = await self._json("POST", f"/v1/orders/{merchant_order_id}/close", {})
        assert data is not None
        return _order(data)

    async def refund(self, merchant_order_id: str, merchant_refund_id: str, amount_fen: int,
                     notify_url: str) -> ProviderRefund:
        data = await self._json("POST", "/v1/refunds", {"merchant_order_id": merchant_order_id,
                                                         "merchant_refund_id": merchant_refund_id,
                                                         "amount_fen": amount_fen, "notify_url": notify_url})
        assert data is not None
        return _refund(data)

    async def query_refund(self, merchant_refund_id: str) -> ProviderRefund | None:
        data = await self._json("GET", f"/v1/refunds/{merchant_refund_id}", missing_ok=True)
        return _refund(data) if data is not None else None

    async def statement(self, day: date) -> list[StatementLine]:
        status, content = await self._call("GET", "/v1/statements", params={"date": day.isoformat()})
        if status >= 400:
            raise ProviderRefused("STATEMENT_REFUSED", status)
        return parse_statement(content.decode("utf-8"))


def parse_statement(text: str) -> list[StatementLine]:
    lines = []
    for row in csv.DictReader(io.StringIO(text)):
        try:
            amount = int(row["amount_fen"])
        except (KeyError, ValueError):
            raise ProviderUnavailable("statement line without an integer amount") from None
        lines.append(StatementLine(row.get("trade_time", ""), row.get("type", ""), row.get("merchant_order_id", ""),
                                   row.get("provider_order_id", ""), row.get("merchant_refund_id", ""), amount,
                                   row.get("currency", ""), row.get("status", "")))
    return lines
