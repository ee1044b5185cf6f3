"""Domestic refunds (申请退款 `POST /v3/refund/domestic/refunds`, 查询单笔退款 `GET …/refunds/{out_refund_no}`):
the request's fields as the gateway checks them, the refund object it answers, and the plaintext of the
refund notice (`REFUND.SUCCESS`, `REFUND.ABNORMAL`, `REFUND.CLOSED`). The state and the routes are in server.py.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass
from typing import Any

from app.clock import CHINA_TZ
from standins.wechatpay.common import Refused, fen, rfc3339, text_field

OUT_REFUND_NO = re.compile(r"[A-Za-z0-9_\-|*@]{1,64}")
OUTCOMES = ("success", "abnormal", "closed")  # how a refund can end
NEXT_OUTCOMES = (*OUTCOMES, "processing")  # "processing": it stays so until a control finishes it
DEFAULT_DELAY = 0.2  # seconds a new refund stays PROCESSING unless told otherwise
USER_RECEIVED_ACCOUNT = "支付用户零钱"  # the payer's WeChat balance, where a refund of a balance payment goes
EVENTS = {"SUCCESS": ("REFUND.SUCCESS", "退款成功"), "ABNORMAL": ("REFUND.ABNORMAL", "退款异常"),
          "CLOSED": ("REFUND.CLOSED", "退款关闭")}


@dataclass
class RefundPlan:
    """How the next refunds go (`POST /_standin/refunds/next`, kept until reset): each ends `outcome` after
    `delay` seconds (or stays PROCESSING), its notice sent `notice` (now, late, twice, never), `notice_delay`
    seconds after it ends (a late one 3 s unless given)."""

    outcome: str = "success"
    notice: str = "now"
    delay: float = DEFAULT_DELAY
    notice_delay: float = 0.0

    def view(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "notice": self.notice, "delay": self.delay, "notice_delay": self.notice_delay}


@dataclass
class Refund:
    body: dict[str, Any]  # the request, as sent: the same out_refund_no with another body is refused
    mchid: str
    out_trade_no: str
    transaction_id: str
    total: int  # the order's total, fen
    refund_id: str
    created: float
    status: str = "PROCESSING"
    succeeded: float | None = None

    @property
    def out_refund_no(self) -> str:
        return str(self.body["out_refund_no"])

    @property
    def refund(self) -> int:
        return int(self.body["amount"]["refund"])

    @property
    def notify_url(self) -> str | None:
        return self.body.get("notify_url")

    def view(self) -> dict[str, Any]:
        """The refund as the apply and query calls answer it (no coupons, so every amount is cash)."""
        view: dict[str, Any] = {
            "refund_id": self.refund_id, "out_refund_no": self.out_refund_no, "transaction_id": self.transaction_id,
            "out_trade_no": self.out_trade_no, "channel": "ORIGINAL", "user_received_account": USER_RECEIVED_ACCOUNT}
        if self.succeeded is not None:
            view["success_time"] = rfc3339(self.succeeded)
        view.update({
            "create_time": rfc3339(self.created), "status": self.status, "funds_account": "AVAILABLE",
            "amount": {"total": self.total, "refund": self.refund, "payer_total": self.total,
                       "payer_refund": self.refund, "settlement_refund": self.refund, "settlement_total": self.total,
                       "discount_refund": 0, "currency": "CNY"}})
        return view

    def notice_view(self) -> dict[str, Any]:
        """The plaintext of the refund notice's resource."""
        view: dict[str, Any] = {
            "mchid": self.mchid, "out_trade_no": self.out_trade_no, "transaction_id": self.transaction_id,
            "out_refund_no": self.out_refund_no, "refund_id": self.refund_id, "refund_status": self.status}
        if self.succeeded is not None:
            view["success_time"] = rfc3339(self.succeeded)
        view["user_received_account"] = USER_RECEIVED_ACCOUNT
        view["amount"] = {"total": self.total, "refund": self.refund, "payer_total": self.total,
                          "payer_refund": self.refund}
        return view


def new_refund_id(now: float) -> str:
    """29 digits, as WeChat Pay's refund ids (50000000382019052709732678859): 50, 8 digits, the date, 11 digits."""
    return ("50" + f"{secrets.randbelow(10**8):08d}" + dt.datetime.fromtimestamp(now, CHINA_TZ).strftime("%Y%m%d")
            + f"{secrets.randbelow(10**11):011d}")


def validate_refund(body: Any) -> None:
    """A refund request's fields as published; Refused("PARAM_ERROR") naming the field."""
    if not isinstance(body, dict):
        raise Refused("PARAM_ERROR", "请求体不是 JSON 对象")
    if body.get("transaction_id") is None and body.get("out_trade_no") is None:
        raise Refused("PARAM_ERROR", "transaction_id 与 out_trade_no 须填其一")
    text_field(body, "transaction_id", 32, required=False)
    text_field(body, "out_trade_no", 32, required=False)
    out_refund_no = body.get("out_refund_no")
    if not isinstance(out_refund_no, str) or not OUT_REFUND_NO.fullmatch(out_refund_no):
        raise Refused("PARAM_ERROR", "out_refund_no")
    text_field(body, "reason", 80, required=False)
    text_field(body, "notify_url", 256, required=False)
    if "notify_url" in body and not str(body["notify_url"]).startswith(("https://", "http://")):
        raise Refused("PARAM_ERROR", "notify_url")  # the real gateway takes https only; the stand-in takes http too
    if body.get("funds_account", "AVAILABLE") != "AVAILABLE":
        raise Refused("PARAM_ERROR", "funds_account")
    amount = body.get("amount")
    if not isinstance(amount, dict):
        raise Refused("PARAM_ERROR", "amount")
    refund, total = fen(amount.get("refund")), fen(amount.get("total"))
    if refund is None or refund <= 0:
        raise Refused("PARAM_ERROR", "amount.refund")
    if total is None or total <= 0:
        raise Refused("PARAM_ERROR", "amount.total")
    if amount.get("currency") != "CNY":
        raise Refused("PARAM_ERROR", "amount.currency")
