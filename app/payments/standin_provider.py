"""A stand-in payment provider (示例支付), run as its own process, behaving as WeChat Pay / Alipay do.

    python -m app.payments.standin_provider --port 8300 --merchant-id gov-sample-merchant \\
        --merchant-key <shared merchant secret> [--provider-id sample-pay]

It imports only third-party libraries (no code of ours), so tests that pass against it show the
adapter speaks a provider's protocol, not our own shortcuts. No database: orders live in memory;
time is the wall clock. `--port 0` picks a free port; the first line on stdout is `LISTENING <port>`.

Protocol (JSON unless said otherwise):

- We call it with `Authorization: Bearer <JWT HS256 by the merchant key>`, claims `iss` = merchant id,
  `iat` (±300 s), a fresh `jti`, `body_sha256` (hex SHA-256 of the request body, empty body too).
- It signs what it says: each reply to us and each notification carries `Payment-Signature: <JWS ES256>`
  (notifications: `Authorization: Bearer <same kind of JWS>`), claims `iss` = provider id, `iat`, `jti`,
  `body_sha256`; its public keys are at `GET /v1/keys` (JWKS, `kid`).
- `POST /v1/orders {merchant_order_id, amount_fen, currency, description, notify_url, expire_at}` →
  `{provider_order_id, pay_url, status: "NOTPAY"}` (the same request again gives the same order).
- `GET /pay/<provider_order_id>`: the pay page (HTML); `POST /pay/<id>/pay` or `/fail` is the payer.
- `GET /v1/orders/<merchant_order_id>` → `{..., status: NOTPAY|SUCCESS|PAYERROR|CLOSED|REFUND, paid_at}`.
- `POST /v1/orders/<merchant_order_id>/close`: an unpaid order is closed (a paid one: 409 ORDER_PAID).
- `POST /v1/refunds {merchant_order_id, merchant_refund_id, amount_fen, notify_url}` → `{status: PROCESSING}`;
  it succeeds after `refund_delay` s and is notified. More than is left to refund: 400 NOT_ENOUGH.
- `GET /v1/statements?date=YYYY-MM-DD` (Beijing date) → CSV: one line per successful payment and refund.
- Notifications to `notify_url`: `{id, event_type: TRANSACTION.SUCCESS|TRANSACTION.FAIL|REFUND.SUCCESS,
  create_time, resource: {...}}`, each event sent `duplicates` times, each copy after a random delay up to
  `notify_delay` s (so copies and events arrive out of order), retried on anything but 2xx, up to 5 times.
- Control (tests and demos): `POST /control {notify_delay, duplicates, drop, refund_delay}`,
  `POST /control/statement {"alter": {merchant_order_id: amount_fen}, "add": [line, ...], "hide": [id, ...]}`, `POST /control/reset`,
  `GET /control/sent` (notifications sent so far, with the answer each got), `POST /control/send
  {url, event_type, resource}` (one signed notice with any content: a provider bug seen from our side).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import csv
import hashlib
import io
import json
import random
import secrets
import socket
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from sanic import Request, Sanic
from sanic import json as json_reply
from sanic.response import HTTPResponse, html, raw

CHINA_TIME = timezone(timedelta(hours=8))
CLOCK_SKEW = 300
RETRIES = 5
STATEMENT_HEADER = ["trade_time", "type", "merchant_order_id", "provider_order_id", "merchant_refund_id",
                    "amount_fen", "currency", "status"]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def now_iso(seconds: float | None = None) -> str:
    moment = datetime.fromtimestamp(seconds if seconds is not None else time.time(), timezone.utc)
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


class Provider:
    """Orders, refunds, behaviour switches and the notification sender of one stand-in."""

    def __init__(self, provider_id: str, merchant_id: str, merchant_key: str) -> None:
        self.provider_id, self.merchant_id, self.merchant_key = provider_id, merchant_id, merchant_key
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.kid = f"{provider_id}-{secrets.token_hex(4)}"
        self.seen_jti: dict[str, float] = {}
        self.reset()

    def reset(self) -> None:
        self.orders: dict[str, dict[str, Any]] = {}  # by merchant order id
        self.by_provider_id: dict[str, str] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.behaviour = {"notify_delay": 0.05, "duplicates": 2, "drop": False, "refund_delay": 0.05}
        self.statement_alter: dict[str, int] = {}
        self.statement_add: list[dict[str, Any]] = []
        self.statement_hide: set[str] = set()
        self.sent: list[dict[str, Any]] = []

    def jwks(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()
        return {"keys": [{"kty": "EC", "crv": "P-256", "kid": self.kid, "alg": "ES256", "use": "sig",
                          "x": b64url(numbers.x.to_bytes(32, "big")), "y": b64url(numbers.y.to_bytes(32, "big"))}]}

    def signature(self, body: bytes) -> str:
        claims = {"iss": self.provider_id, "iat": int(time.time()), "jti": secrets.token_hex(16),
                  "body_sha256": hashlib.sha256(body).hexdigest()}
        return jwt.encode(claims, self.key, algorithm="ES256", headers={"kid": self.kid})

    def signed(self, body: Any, status: int = 200) -> HTTPResponse:
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return raw(data, status=status, content_type="application/json",
                   headers={"Payment-Signature": self.signature(data)})

    def merchant_ok(self, request: Request) -> bool:
        """The merchant's HS256 JWT: right issuer, fresh, used once, over this very body."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        try:
            claims = jwt.decode(token, self.merchant_key, algorithms=["HS256"], options={"require": ["iat", "jti"]})
        except jwt.PyJWTError:
            return False
        now = time.time()
        self.seen_jti = {j: t for j, t in self.seen_jti.items() if t > now - 2 * CLOCK_SKEW}
        if (claims.get("iss") != self.merchant_id or abs(now - claims["iat"]) > CLOCK_SKEW
                or claims["jti"] in self.seen_jti
                or claims.get("body_sha256") != hashlib.sha256(request.body or b"").hexdigest()):
            return False
        self.seen_jti[claims["jti"]] = now
        return True

    def order_view(self, order: dict[str, Any]) -> dict[str, Any]:
        keys = ("merchant_order_id", "provider_order_id", "amount_fen", "currency", "description", "status",
                "paid_at", "refunded_fen")
        return {k: order.get(k) for k in keys}

    async def notify(self, url: str, event_type: str, resource: dict[str, Any]) -> None:
        """Send one event `duplicates` times, each copy after its own random delay; retry non-2xx."""
        if self.behaviour["drop"] or not url:
            self.sent.append({"event_type": event_type, "resource": resource, "dropped": True})
            return
        event = {"id": f"EV-{secrets.token_hex(8)}", "event_type": event_type, "create_time": now_iso(),
                 "resource": resource}
        for _ in range(max(1, int(self.behaviour["duplicates"]))):
            asyncio.get_running_loop().create_task(self._deliver(url, event, random.uniform(0, self.behaviour["notify_delay"])))

    async def _deliver(self, url: str, event: dict[str, Any], delay: float) -> None:
        await asyncio.sleep(delay)
        body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        record: dict[str, Any] = {"id": event["id"], "event_type": event["event_type"], "resource": event["resource"],
                                  "answers": []}
        self.sent.append(record)
        async with httpx.AsyncClient(timeout=10) as http:
            for attempt in range(RETRIES):
                try:  # a fresh signature per attempt, as real providers sign each request
                    answer = await http.post(url, content=body, headers={
                        "Content-Type": "application/json", "Authorization": f"Bearer {self.signature(body)}"})
                    record["answers"].append(answer.status_code)
                    if 200 <= answer.status_code < 300:
                        return
                except httpx.HTTPError as failure:
                    record["answers"].append(type(failure).__name__)
                await asyncio.sleep(0.2 * 2 ** attempt)

    def statement(self, day: str) -> str:
        lines: list[dict[str, Any]] = []
        for order in self.orders.values():
            if order["merchant_order_id"] in self.statement_hide:
                continue
            if order.get("paid_at_ts") and datetime.fromtimestamp(order["paid_at_ts"], CHINA_TIME).date().isoformat() == day:
                amount = self.statement_alter.get(order["merchant_order_id"], order["amount_fen"])
                lines.append({"trade_time": order["paid_at"], "type": "PAY", "merchant_order_id": order["merchant_order_id"],
                              "provider_order_id": order["provider_order_id"], "merchant_refund_id": "",
                              "amount_fen": amount, "currency": order["currency"], "status": "SUCCESS"})
        for refund in self.refunds.values():
            if refund.get("done_at_ts") and datetime.fromtimestamp(refund["done_at_ts"], CHINA_TIME).date().isoformat() == day:
                lines.append({"trade_time": refund["done_at"], "type": "REFUND",
                              "merchant_order_id": refund["merchant_order_id"], "provider_order_id": refund["provider_order_id"],
                              "merchant_refund_id": refund["merchant_refund_id"], "amount_fen": refund["amount_fen"],
                              "currency": "CNY", "status": "SUCCESS"})
        lines += [line for line in self.statement_add if str(line.get("trade_time", ""))[:10] <= day]
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=STATEMENT_HEADER, lineterminator="\n")
        writer.writeheader()
        for line in sorted(lines, key=lambda item: str(item["trade_time"])):
            writer.writerow({k: line.get(k, "") for k in STATEMENT_HEADER})
        return out.getvalue()


def create_app(provider: Provider) -> Sanic:
    app = Sanic(f"standin_provider_{provider.provider_id.replace('-', '_')}")
    app.config.AUTO_EXTEND = False

    def refused(code: str, status: int = 400) -> HTTPResponse:
        return provider.signed({"code": code}, status=status)

    @app.on_request
    async def authenticate(request: Request) -> HTTPResponse | None:
        if request.path.startswith("/v1/") and request.path != "/v1/keys" and not provider.merchant_ok(request):
            return json_reply({"code": "SIGN_ERROR"}, status=401)
        return None

    @app.get("/v1/keys")
    async def keys(request: Request) -> HTTPResponse:
        return json_reply(provider.jwks())

    @app.post("/v1/orders")
    async def create_order(request: Request) -> HTTPResponse:
        body = request.json or {}
        try:
            order_id, amount = str(body["merchant_order_id"]), body["amount_fen"]
            currency, notify_url = str(body["currency"]), str(body.get("notify_url", ""))
        except KeyError as missing:
            return refused(f"PARAM_ERROR:{missing.args[0]}")
        if type(amount) is not int or amount <= 0 or currency != "CNY":
            return refused("PARAM_ERROR:amount_fen")
        existing = provider.orders.get(order_id)
        if existing is not None:
            if (existing["amount_fen"], existing["currency"]) != (amount, currency):
                return refused("ORDER_NO_USED", 409)
            return provider.signed({**provider.order_view(existing), "pay_url": existing["pay_url"]})
        provider_order_id = f"4200{secrets.randbelow(10 ** 16):016d}"
        order = {"merchant_order_id": order_id, "provider_order_id": provider_order_id, "amount_fen": amount,
                 "currency": currency, "description": str(body.get("description", ""))[:127], "status": "NOTPAY",
                 "notify_url": notify_url, "expire_at": body.get("expire_at"), "paid_at": None, "refunded_fen": 0,
                 "pay_url": f"{request.scheme}://{request.host}/pay/{provider_order_id}"}
        provider.orders[order_id] = order
        provider.by_provider_id[provider_order_id] = order_id
        return provider.signed({**provider.order_view(order), "pay_url": order["pay_url"]}, status=201)

    @app.get("/v1/orders/<order_id:str>")
    async def query_order(request: Request, order_id: str) -> HTTPResponse:
        order = provider.orders.get(order_id)
        return provider.signed(provider.order_view(order)) if order else refused("ORDER_NOT_EXIST", 404)

    @app.post("/v1/orders/<order_id:str>/close")
    async def close_order(request: Request, order_id: str) -> HTTPResponse:
        order = provider.orders.get(order_id)
        if order is None:
            return refused("ORDER_NOT_EXIST", 404)
        if order["status"] in ("SUCCESS", "REFUND"):
            return refused("ORDER_PAID", 409)
        order["status"] = "CLOSED" if order["status"] == "NOTPAY" else order["status"]
        return provider.signed(provider.order_view(order))

    @app.get("/pay/<provider_order_id:str>")
    async def pay_page(request: Request, provider_order_id: str) -> HTTPResponse:
        order = provider.orders.get(provider.by_provider_id.get(provider_order_id, ""))
        if order is None:
            return html("<p>订单不存在</p>", status=404)
        yuan = f"{order['amount_fen'] // 100}.{order['amount_fen'] % 100:02d}"
        return html("".join([
            '<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>示例支付</title>',
            "<h1>示例支付（测试用，不会真实扣款）</h1>", f"<p>{order['description']}</p>", f"<p>金额：¥{yuan}</p>",
            f"<p>状态：{order['status']}</p>",
            f'<form method="post" action="/pay/{provider_order_id}/pay"><button>确认支付</button></form>',
            f'<form method="post" action="/pay/{provider_order_id}/fail"><button>模拟支付失败</button></form></html>']))

    async def payer_acts(provider_order_id: str, outcome: str) -> HTTPResponse:
        order = provider.orders.get(provider.by_provider_id.get(provider_order_id, ""))
        if order is None:
            return json_reply({"code": "ORDER_NOT_EXIST"}, status=404)
        if order["status"] != "NOTPAY":
            return json_reply({"code": "ORDER_STATUS_ERROR", "status": order["status"]}, status=409)
        if outcome == "pay":
            order["status"], order["paid_at_ts"] = "SUCCESS", time.time()
            order["paid_at"] = now_iso(order["paid_at_ts"])
            event = "TRANSACTION.SUCCESS"
        else:
            order["status"], event = "PAYERROR", "TRANSACTION.FAIL"
        await provider.notify(order["notify_url"], event, provider.order_view(order))
        return json_reply(provider.order_view(order))

    @app.post("/pay/<provider_order_id:str>/pay")
    async def pay(request: Request, provider_order_id: str) -> HTTPResponse:
        return await payer_acts(provider_order_id, "pay")

    @app.post("/pay/<provider_order_id:str>/fail")
    async def fail(request: Request, provider_order_id: str) -> HTTPResponse:
        return await payer_acts(provider_order_id, "fail")

    @app.post("/v1/refunds")
    async def refund(request: Request) -> HTTPResponse:
        body = request.json or {}
        order = provider.orders.get(str(body.get("merchant_order_id", "")))
        refund_id, amount = str(body.get("merchant_refund_id", "")), body.get("amount_fen")
        if order is None:
            return refused("ORDER_NOT_EXIST", 404)
        if not refund_id or type(amount) is not int or amount <= 0:
            return refused("PARAM_ERROR")
        if refund_id in provider.refunds:
            return provider.signed(provider.refunds[refund_id]["view"])
        if order["status"] not in ("SUCCESS", "REFUND"):
            return refused("TRADE_STATUS_ERROR", 409)
        if order["refunded_fen"] + amount > order["amount_fen"]:
            return refused("NOT_ENOUGH")
        order["refunded_fen"] += amount
        order["status"] = "REFUND"
        view = {"merchant_refund_id": refund_id, "merchant_order_id": order["merchant_order_id"],
                "provider_order_id": order["provider_order_id"], "provider_refund_id": f"5030{secrets.randbelow(10 ** 16):016d}",
                "amount_fen": amount, "currency": "CNY", "status": "PROCESSING"}
        record = {**view, "view": view}
        provider.refunds[refund_id] = record

        async def finish() -> None:
            await asyncio.sleep(provider.behaviour["refund_delay"])
            record["done_at_ts"] = time.time()
            record["done_at"] = now_iso(record["done_at_ts"])
            view["status"] = "SUCCESS"
            await provider.notify(str(body.get("notify_url", "")), "REFUND.SUCCESS", dict(view))

        asyncio.get_running_loop().create_task(finish())
        return provider.signed(view, status=201)

    @app.get("/v1/refunds/<refund_id:str>")
    async def query_refund(request: Request, refund_id: str) -> HTTPResponse:
        record = provider.refunds.get(refund_id)
        return provider.signed(record["view"]) if record else refused("REFUND_NOT_EXIST", 404)

    @app.get("/v1/statements")
    async def statement(request: Request) -> HTTPResponse:
        day = request.args.get("date", "")
        try:
            datetime.strptime(day, "%Y-%m-%d")
        except ValueError:
            return refused("PARAM_ERROR:date")
        data = provider.statement(day).encode("utf-8")
        return raw(data, content_type="text/csv; charset=utf-8", headers={"Payment-Signature": provider.signature(data)})

    @app.post("/control")
    async def control(request: Request) -> HTTPResponse:
        for name, value in (request.json or {}).items():
            if name in provider.behaviour:
                provider.behaviour[name] = value
        return json_reply(provider.behaviour)

    @app.post("/control/statement")
    async def control_statement(request: Request) -> HTTPResponse:
        body = request.json or {}
        provider.statement_alter.update({str(k): int(v) for k, v in (body.get("alter") or {}).items()})
        provider.statement_add.extend(body.get("add") or [])
        provider.statement_hide.update(str(k) for k in body.get("hide") or [])
        return json_reply({"alter": provider.statement_alter, "add": provider.statement_add})

    @app.post("/control/reset")
    async def control_reset(request: Request) -> HTTPResponse:
        provider.reset()
        return json_reply({"reset": True})

    @app.post("/control/send")
    async def control_send(request: Request) -> HTTPResponse:
        """Send one signed notice with whatever resource is given (a provider bug, as seen from our side)."""
        body = request.json or {}
        event = {"id": f"EV-{secrets.token_hex(8)}", "event_type": body.get("event_type", "TRANSACTION.SUCCESS"),
                 "create_time": now_iso(), "resource": body.get("resource") or {}}
        data = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        token = provider.signature(data)
        async with httpx.AsyncClient(timeout=10) as http:
            answer = await http.post(str(body["url"]), content=data, headers={
                "Content-Type": "application/json", "Authorization": f"Bearer {token}"})
        # What went over the wire, so a test can play the attacker who captured it.
        return json_reply({"status": answer.status_code, "body": answer.json(), "sent_body": data.decode("utf-8"),
                           "sent_token": token})

    @app.get("/control/sent")
    async def control_sent(request: Request) -> HTTPResponse:
        return json_reply({"sent": provider.sent})

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m app.payments.standin_provider", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True, help="0: any free port (see the LISTENING line)")
    parser.add_argument("--provider-id", default="sample-pay")
    parser.add_argument("--merchant-id", default="gov-sample-merchant")
    parser.add_argument("--merchant-key", required=True, help="the secret shared with the merchant (HS256)")
    args = parser.parse_args(argv)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    print(f"LISTENING {sock.getsockname()[1]}", flush=True)
    app = create_app(Provider(args.provider_id, args.merchant_id, args.merchant_key))
    app.run(sock=sock, single_process=True, access_log=False, motd=False)


if __name__ == "__main__":
    main()
