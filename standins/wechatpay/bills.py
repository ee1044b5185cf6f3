"""Trade bills (交易账单) as WeChat Pay publishes them: the lines of a day, the columns of each bill type, the
summary, and the changes a test may make to what a bill says (to exercise reconciliation). The state and the
routes (`GET /v3/bill/tradebill`, `GET /v3/billdownload/file`) are in server.py.

The file: a header line, one line per payment or refund, the summary header and the summary line; each line ends
with CRLF; every value of a data line or the summary line starts with a backtick (so a spreadsheet keeps long
numbers as text); values are not quoted. Amounts are in yuan with 2 decimals (1.50), 手续费 with 5 (0.01000,
negative on a refund: the fee given back), 费率 "0.60%", times `YYYY-MM-DD HH:MM:SS` in Beijing time. The
columns differ by bill type, as published:

- ALL: the 27 columns of `COLUMNS["ALL"]`; a payment line's 微信退款单号 and 商户退款单号 are "0", its refund
  amounts 0.00; a refund line has 交易状态 REFUND, 应结订单金额 and 订单金额 0.00, 交易时间 the refund's
  success time.
- SUCCESS: payments only, 20 columns (no refund columns).
- REFUND: refunds only, 29 columns: 退款申请时间 and 退款成功时间 come after 代金券金额, and 交易时间 is the
  payment's time.

A line belongs to the Beijing date of the payment's or the refund's success time.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

from app.clock import CHINA_TZ
from standins.wechatpay.common import Refused, beijing, parse_rfc3339

BILL_TYPES = ("ALL", "SUCCESS", "REFUND")
LINE_KINDS = ("SUCCESS", "REFUND")
_BEFORE = ("交易时间", "公众账号ID", "商户号", "特约商户号", "设备号", "微信订单号", "商户订单号", "用户标识", "交易类型",
           "交易状态", "付款银行", "货币种类", "应结订单金额", "代金券金额")
_REFUND = ("微信退款单号", "商户退款单号", "退款金额", "充值券退款金额", "退款类型", "退款状态")
_GOODS = ("商品名称", "商户数据包", "手续费", "费率")
COLUMNS = {
    "ALL": (*_BEFORE, *_REFUND, *_GOODS, "订单金额", "申请退款金额", "费率备注"),
    "SUCCESS": (*_BEFORE, *_GOODS, "订单金额", "费率备注"),
    "REFUND": (*_BEFORE, "退款申请时间", "退款成功时间", *_REFUND, *_GOODS, "订单金额", "申请退款金额", "费率备注"),
}
SUMMARY_COLUMNS = ("总交易单数", "应结订单总金额", "退款总金额", "充值券退款总金额", "手续费总金额", "订单总金额", "申请退款总金额")
RATE = "0.60%"
TOKEN_LIFETIME = 30.0  # seconds a download_url answers
BILL_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def yuan(fen: int, places: int = 2) -> str:
    """Fen as the bill writes yuan: 150 → "1.50" (places 5: "1.50000"), -1 → "-0.01"."""
    whole, cents = divmod(abs(fen), 100)
    return ("-" if fen < 0 else "") + f"{whole}.{cents:02d}" + "0" * (places - 2)


def fee(amount: int) -> int:
    """The 0.60% fee on an amount, in fen, rounded half up as WeChat Pay rounds it to the fen."""
    return (amount * 6 + 500) // 1000


@dataclass
class BillLine:
    kind: str  # SUCCESS (a payment) or REFUND
    moment: float  # the payment's or the refund's success time: the line's day
    appid: str
    mchid: str
    transaction_id: str
    out_trade_no: str
    openid: str
    trade_type: str
    description: str
    attach: str
    amount: int  # fen: the payment's total, or the refund
    paid: float  # the payment's success time (交易时间 of a REFUND bill)
    refund_id: str = ""
    out_refund_no: str = ""
    requested: float = 0.0  # when the refund was applied for

    @property
    def key(self) -> str:
        """What a bill change names the line by: its out_refund_no for a refund, its out_trade_no for a payment."""
        return self.out_refund_no if self.kind == "REFUND" else self.out_trade_no

    @property
    def day(self) -> dt.date:
        return dt.datetime.fromtimestamp(self.moment, CHINA_TZ).date()

    @property
    def fee(self) -> int:
        return -fee(self.amount) if self.kind == "REFUND" else fee(self.amount)

    def values(self, bill_type: str) -> dict[str, str]:
        """The line's value for each column (the bill type picks which, and in what order)."""
        refund = self.kind == "REFUND"
        values = {
            "交易时间": beijing(self.paid if refund and bill_type == "REFUND" else self.moment),
            "公众账号ID": self.appid, "商户号": self.mchid, "特约商户号": "0", "设备号": "",
            "微信订单号": self.transaction_id, "商户订单号": self.out_trade_no, "用户标识": self.openid,
            "交易类型": self.trade_type, "交易状态": self.kind, "付款银行": "OTHERS", "货币种类": "CNY",
            "应结订单金额": yuan(0 if refund else self.amount), "代金券金额": "0.00",
            "微信退款单号": self.refund_id if refund else "0", "商户退款单号": self.out_refund_no if refund else "0",
            "退款金额": yuan(self.amount if refund else 0), "充值券退款金额": "0.00",
            "退款类型": "ORIGINAL" if refund else "", "退款状态": "SUCCESS" if refund else "",
            "商品名称": self.description, "商户数据包": self.attach, "手续费": yuan(self.fee, 5), "费率": RATE,
            "订单金额": yuan(0 if refund else self.amount), "申请退款金额": yuan(self.amount if refund else 0),
            "费率备注": ""}
        if refund:
            values["退款申请时间"], values["退款成功时间"] = beijing(self.requested), beijing(self.moment)
        return values


def summary(lines: list[BillLine]) -> tuple[str, ...]:
    paid = sum(line.amount for line in lines if line.kind == "SUCCESS")
    refunded = sum(line.amount for line in lines if line.kind == "REFUND")
    return (str(len(lines)), yuan(paid), yuan(refunded), "0.00", yuan(sum(line.fee for line in lines), 5),
            yuan(paid), yuan(refunded))


def render(lines: list[BillLine], bill_type: str) -> bytes:
    """The bill file, UTF-8, as the download gives it (before any gzip)."""
    columns = COLUMNS[bill_type]
    rows = [",".join(columns)]
    rows += [",".join("`" + line.values(bill_type)[column] for column in columns) for line in lines]
    rows += [",".join(SUMMARY_COLUMNS), ",".join("`" + value for value in summary(lines))]
    return "".join(row + "\r\n" for row in rows).encode("utf-8")


def select(lines: Iterable[BillLine], day: dt.date, bill_type: str) -> list[BillLine]:
    """The lines of a day that a bill type shows, oldest first."""
    kinds = LINE_KINDS if bill_type == "ALL" else (bill_type,)
    return sorted((line for line in lines if line.kind in kinds and line.day == day), key=lambda line: line.moment)


def parse_query(bill_date: str | None, bill_type: str | None, tar_type: str | None) -> tuple[dt.date, str, bool]:
    """The day, the bill type and whether to gzip, as the request asks; Refused("PARAM_ERROR") naming the field."""
    try:
        day = dt.date.fromisoformat(bill_date) if bill_date and BILL_DATE.fullmatch(bill_date) else None
    except ValueError:
        day = None
    if day is None:
        raise Refused("PARAM_ERROR", "bill_date")
    bill_type = bill_type or "ALL"
    if bill_type not in BILL_TYPES:
        raise Refused("PARAM_ERROR", "bill_type")
    if tar_type not in (None, "GZIP"):
        raise Refused("PARAM_ERROR", "tar_type")
    return day, bill_type, tar_type == "GZIP"


@dataclass
class BillChanges:
    """What a test makes the bills say, from when it says it until reset (each call adds to what is there):
    `alter` sets the amount of the stand-in's line named by its out_trade_no (a payment) or out_refund_no (a
    refund); `hide` leaves such lines out; `add` holds lines of its own (neither altered nor hidden)."""

    alter: dict[str, int] = field(default_factory=dict)
    hide: list[str] = field(default_factory=list)
    add: list[BillLine] = field(default_factory=list)

    def apply(self, lines: Iterable[BillLine]) -> list[BillLine]:
        changed = [line for line in lines if line.key not in self.hide]
        changed = [BillLine(**{**asdict(line), "amount": self.alter[line.key]}) if line.key in self.alter else line
                   for line in changed]
        return changed + self.add

    def view(self) -> dict[str, Any]:
        return {"alter": dict(self.alter), "hide": list(self.hide), "add": [asdict(line) for line in self.add]}


def check_changes(body: dict[str, Any]) -> tuple[dict[str, int], list[str], list[dict[str, Any]]]:
    """The alter, hide and add of a change request, each checked; ValueError saying what is wrong."""
    alter, hide, add = body.get("alter", {}), body.get("hide", []), body.get("add", [])
    if not isinstance(alter, dict) or not all(isinstance(k, str) and _fen(v) and v >= 0 for k, v in alter.items()):
        raise ValueError("alter: {out_trade_no or out_refund_no: amount in fen >= 0}")
    if not isinstance(hide, list) or not all(isinstance(key, str) and key for key in hide):
        raise ValueError("hide: [out_trade_no or out_refund_no, ...]")
    if not isinstance(add, list) or not all(_addable(entry) for entry in add):
        raise ValueError('add: [{"out_trade_no", "amount": fen > 0, "type": "SUCCESS"|"REFUND", "out_refund_no"?, '
                         '"time"?: RFC 3339}, ...]')
    return alter, hide, add


def _fen(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _addable(entry: Any) -> bool:
    return (isinstance(entry, dict) and isinstance(entry.get("out_trade_no"), str) and bool(entry["out_trade_no"])
            and _fen(entry.get("amount")) and entry["amount"] > 0 and entry.get("type", "SUCCESS") in LINE_KINDS
            and isinstance(entry.get("out_refund_no", ""), str)
            and ("time" not in entry or parse_rfc3339(entry["time"]) is not None))


@dataclass
class BillFile:
    """A bill as its download_url gives it, until `expires`."""

    content: bytes
    content_type: str
    expires: float
