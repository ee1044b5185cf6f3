"""The payments domain's (缴费) error codes: fees, fines and bills, refunds, reconciliation, e-receipts.

Each message is its zh-Hans text, marked with N_ so `pybabel extract` puts it in the catalogs
(locales/, docs/i18n.md); zh-Hant and English come from there at reply time.
"""

from __future__ import annotations

from app.errors import register_messages
from app.i18n import N_

register_messages({
    # Fees, fines and bills to pay.
    "PAYABLE_NOT_FOUND": N_("未找到该待缴款项，请刷新后重试。"),
    "PAYABLES_UNAVAILABLE": N_("缴费部门系统暂时无法查询，请稍后再试。"),
    # Paying, the provider's notices, refunds, e-receipts and reconciliation.
    "PAYMENT_AMOUNT_MISMATCH": N_("缴费金额与应缴金额 {owed} 不一致。"),
    "REFERENCE_ALREADY_PAID": N_("该款项已缴清，无需重复缴费。"),
    "PAYMENT_IN_PROGRESS": N_("该款项已有一笔支付正在进行，请先完成或取消那一笔。"),
    "PAYMENT_IDEMPOTENCY_KEY_REUSED": N_("该 Idempotency-Key 已用于另一笔不同的缴费，请为新的缴费使用新的键。"),
    "PAYMENT_NOT_FOUND": N_("未找到该缴费记录。"),
    "PAYMENT_STATE_CONFLICT": N_("该缴费当前状态为“{state}”，不能进行此操作。"),
    "PAYMENT_PROVIDER_UNAVAILABLE": N_("支付服务暂时不可用，请稍后重试，不会重复扣款。"),
    "PAYMENT_NOTICE_SIGNATURE_INVALID": N_("支付通知签名无效。"),
    "PAYMENT_NOTICE_REPLAYED": N_("该支付通知签名已使用过。"),
    "PAYMENT_NOTICE_UNREADABLE": N_("支付通知无法解密或格式不正确。"),
    "PAYMENT_NOTICE_MISMATCH": N_("支付通知与订单记录不符（{what}）。"),
    "REFUND_EXCEEDS_REMAINDER": N_("退款金额超过可退金额（剩余 {left}）。"),
    "REFUND_INSUFFICIENT_FUNDS": N_("商户账户余额不足，退款未能发起，请稍后再试。"),
    "REFUND_REFUSED": N_("支付渠道拒绝退款（{code}）。"),
    "RECEIPT_NOT_FOUND": N_("该缴费暂无电子票据（支付成功后开具）。"),
    "DISCREPANCY_NOT_FOUND": N_("未找到该对账差异工单。"),
    "DISCREPANCY_RESOLVED": N_("该对账差异工单已处理。"),
})
