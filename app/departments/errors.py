"""The departments domain's error codes: departments reached through the exchange, 社保 proofs,
the electronic social security card.

Each message is its zh-Hans text, marked with N_ so `pybabel extract` puts it in the catalogs
(locales/, docs/i18n.md); zh-Hant and English come from there at reply time.
"""

from __future__ import annotations

from app.errors import register_messages
from app.i18n import N_

register_messages({
    # Departments reached through the exchange.
    "DEPARTMENT_NOT_CONNECTED": N_("该部门尚未接入本平台，请通过该部门的窗口或官方渠道办理。"),
    "TRAFFIC_VIOLATION_NOT_FOUND": N_("您名下没有这份交通违法处罚决定书。"),
    # 社保 proofs (个人权益记录) and the electronic social security card.
    "PROOF_INVALID": N_("该二维码不是本平台出具的有效社保权益记录，请核对纸质文件的来源。"),
    "PROOF_NOT_FOUND": N_("未找到该社保权益记录。"),
    "SOCIAL_SECURITY_CARD_LOST": N_("该社会保障卡已挂失，电子社保卡暂不能使用；补领新卡后即可恢复，详询人社部门或发卡银行。"),
    "ELECTRONIC_SOCIAL_SECURITY_CARD_NOT_ISSUED": N_("尚未领取电子社保卡：请先通过人社部门的渠道申领，再出示二维码。"),
})
