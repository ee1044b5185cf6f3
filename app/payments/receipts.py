"""E-receipts (电子票据): one per successful payment, an image and a PDF with a verification QR.

The QR holds a public URL with the receipt number and a check code. The check code is an HMAC of the
number under the platform key (so it need not be stored and cannot be guessed from the number);
anyone holding the receipt can check it online at `GET /api/v1/e-receipts/{number}?c=<code>`, which
answers the amount, payee, date, what was refunded and what remains paid, and nothing about the payer but a
masked name. Refunds count once the provider has made them (a refund still pending is not shown).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from PIL import Image, ImageDraw

from app.db import column
from app.money import yuan
from app.clock import CHINA_TZ
from app.payments.models import Payment, Receipt, Refund
from app.platform import Platform
from app.qr import cjk_font, qr_modules

PAYEE = "广东省政务服务数据管理局（示例收款单位）"
NUMBER = re.compile(r"GDPR[0-9]{18}")  # the shape of every receipt number we issue (ASCII digits only)
KIND_TEXTS = {"application_fee": "行政事业性收费", "traffic_fine": "交通违法罚没款", "utility_bill": "公共事业缴费"}


@dataclass(frozen=True)
class ReceiptCheck:
    """What the public verification answers."""

    valid: bool
    number: str
    amount_fen: int | None = None
    currency: str | None = None
    payee: str | None = None
    description: str | None = None
    payer_name_masked: str | None = None
    paid_at: datetime | None = None
    status: str | None = None  # paid, partially_refunded, refunded
    refunded_fen: int | None = None
    remaining_fen: int | None = None  # what stays paid after the refunds


def receipt_status(payment: Payment) -> str:
    """paid, partially_refunded or refunded: the receipt's word for the payment's state."""
    return payment.state if payment.state in ("partially_refunded", "refunded") else "paid"


async def refunded_fen(payment_id: str) -> int:
    """What the provider has refunded of a payment (succeeded refunds; reserved or pending ones not)."""
    refunded: list[int] = await column(Refund.filter(payment_id=payment_id, state="succeeded"), "amount_fen")
    return sum(refunded)


class Receipts:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    def check_code(self, number: str) -> str:
        return self.platform.pii.lookup_hash(number, "e-receipt")[:24]

    def verify_url(self, number: str) -> str:
        base = (self.platform.settings.payments.receipt_verify_base or self.platform.settings.security.issuer).rstrip("/")
        return f"{base}/api/v1/e-receipts/{quote(number)}?c={self.check_code(number)}"

    async def issue(self, payment: Payment, payer_name_masked: str, settled_at: datetime,
                    using_db: Any = None) -> Receipt:
        """The receipt of `payment`, written in the caller's transaction (the one that marks it paid), so
        a paid payment always has its receipt. The payment id is unique: a second one cannot be made."""
        number = f"GDPR{settled_at.astimezone(CHINA_TZ):%Y%m%d}{secrets.randbelow(10 ** 10):010d}"
        return await Receipt.create(number=number, payment_id=payment.id, citizen_id=payment.citizen_id,
                                    check_hash=hashlib.sha256(self.check_code(number).encode()).hexdigest(),
                                    payer_name_masked=payer_name_masked, issued_at=settled_at, using_db=using_db)

    def code_matches(self, number: str, code: str) -> bool:
        """Whether `code` is the check code of `number`, compared in constant time on bytes, so any text
        (non-ASCII, lone surrogates) is simply a wrong code. Needs no database read: a wrong code for a
        real receipt and any code for an unknown number take the same path and get the same answer."""
        if not NUMBER.fullmatch(number):
            return False
        return hmac.compare_digest(self.check_code(number).encode("ascii"), code.encode("utf-8", "surrogatepass"))

    async def verify(self, number: str, code: str) -> ReceiptCheck:
        if not self.code_matches(number, code or ""):
            return ReceiptCheck(valid=False, number=number[:32])
        receipt = await Receipt.get_or_none(number=number)
        if receipt is None:
            return ReceiptCheck(valid=False, number=number[:32])
        payment = await Payment.get(id=receipt.payment_id)
        refunded = await refunded_fen(payment.id)
        return ReceiptCheck(valid=True, number=receipt.number, amount_fen=payment.amount_fen, currency=payment.currency,
                            payee=PAYEE, description=payment.description, payer_name_masked=receipt.payer_name_masked,
                            paid_at=payment.settled_at, status=receipt_status(payment), refunded_fen=refunded,
                            remaining_fen=payment.amount_fen - refunded)

    async def image(self, receipt: Receipt, payment: Payment, refunded: int, fmt: str = "png") -> bytes:
        """The receipt drawn with pillow (PNG, or PDF through pillow), off the event loop; `refunded` fen of it
        were refunded."""
        return await asyncio.to_thread(draw, receipt, payment, refunded, self.verify_url(receipt.number), fmt)


def draw(receipt: Receipt, payment: Payment, refunded: int, url: str, fmt: str) -> bytes:
    rows = _rows(receipt, payment, refunded)
    width, height = 900, 1200 + 58 * (len(rows) - 8)
    page = Image.new("RGB", (width, height), "white")
    pen = ImageDraw.Draw(page)
    red = (176, 30, 35)
    pen.rectangle((30, 30, width - 30, height - 30), outline=red, width=4)
    pen.text((width // 2, 100), "电子缴费票据", fill=red, font=cjk_font(52), anchor="mm")
    pen.text((width // 2, 160), "（示例票据 · Sample receipt, not a real fiscal document）", fill=(90, 90, 90),
             font=cjk_font(22), anchor="mm")
    y = 230
    for label, value in rows:
        pen.text((70, y), label, fill=(60, 60, 60), font=cjk_font(28))
        pen.text((250, y), str(value)[:32], fill="black", font=cjk_font(28))
        y += 58
    modules = qr_modules(url)
    scale = max(1, 360 // modules.width)
    qr = modules.resize((modules.width * scale, modules.height * scale), Image.Resampling.NEAREST).convert("RGB")
    left = (width - qr.width) // 2
    page.paste(qr, (left, y + 30))
    pen.text((width // 2, y + 60 + qr.height), "扫码或访问以下网址查验真伪", fill=(60, 60, 60), font=cjk_font(24),
             anchor="mm")
    pen.text((width // 2, y + 100 + qr.height), url.split("?")[0][-60:], fill=(60, 60, 60), font=cjk_font(18),
             anchor="mm")
    out = io.BytesIO()
    if fmt == "pdf":
        page.save(out, "PDF", resolution=150.0, title=f"电子缴费票据 {receipt.number}")
    else:
        page.save(out, "PNG", optimize=True)
    return out.getvalue()


def _rows(receipt: Receipt, payment: Payment, refunded: int) -> list[tuple[str, str]]:
    """The labelled lines of the receipt; after a refund, what was refunded and what remains paid."""
    paid_at = (payment.settled_at or receipt.issued_at).astimezone(CHINA_TZ)
    rows = [
        ("票据号码", receipt.number),
        ("缴款人", receipt.payer_name_masked),
        ("收款单位", PAYEE),
        ("项目", KIND_TEXTS.get(payment.reference_kind, "缴费")),
        ("摘要", payment.description),
        ("金额", f"{yuan(payment.amount_fen)}（人民币）"),
        ("缴费时间", f"{paid_at:%Y-%m-%d %H:%M:%S}（北京时间）"),
        ("支付订单号", payment.id),
    ]
    if refunded:
        rows += [("已退款金额", f"{yuan(refunded)}（人民币）"), ("实缴金额", f"{yuan(payment.amount_fen - refunded)}（人民币）")]
    return rows
