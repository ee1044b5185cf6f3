"""The payment provider's callback (支付结果通知): its own audience, authenticated by the provider's signature."""

from __future__ import annotations

from sanic import Request
from sanic.response import HTTPResponse, raw

from api.http import audience_blueprint, documented
from api.services import services

bp = audience_blueprint("provider_payments", url_prefix="/api/provider/v1", audience="payment_provider")


@bp.post("/payment-notifications")
@documented("Payment and refund notices from WeChat Pay (API v3): signed with `Wechatpay-Serial/-Signature/"
            "-Timestamp/-Nonce`, resource encrypted with AEAD_AES_256_GCM. 401 bad signature, 400 unreadable, 422 "
            "does not match our order (a reconciliation case is opened); a duplicate is answered 200 and changes "
            "nothing", tag="payments")
async def payment_notification(request: Request) -> HTTPResponse:
    answer = await services(request).payments.handle_notice(request.ctx.notice, request.body or b"")
    return raw(answer.body, content_type=answer.content_type)
