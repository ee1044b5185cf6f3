"""The error codes of online applications (办件), their forms (申请表), materials and 秒批 rules.

Each message is its zh-Hans text, marked with N_ so `pybabel extract` puts it in the catalogs
(locales/, docs/i18n.md); zh-Hant and English come from there at reply time.
"""

from __future__ import annotations

from app.errors import register_messages
from app.i18n import N_

register_messages({
    "IDEMPOTENCY_KEY_REUSED": N_("该 Idempotency-Key 已用于另一份不同的申请，请为新申请使用新的键。"),
    "APPLICATION_ITEM_NOT_FOUND": N_("未找到该事项，或该事项暂未开放办理。"),
    "APPLICATION_ITEM_NOT_ONLINE": N_("该事项暂不支持网上申请，请到窗口办理。"),
    "APPLICATION_NOT_FOUND": N_("未找到该办件。"),
    "APPLICATION_STATE_CONFLICT": N_("办件当前状态为“{status}”，不能进行此操作。"),
    "APPLICATION_ASSIGNED_ELSEWHERE": N_("该办件已由其他工作人员认领。"),
    "APPLICATION_FORM_TOO_LARGE": N_("申请表内容过多（上限 {kb} KB）。"),
    "MATERIAL_UNKNOWN": N_("该事项不需要材料“{name}”。"),
    "MATERIAL_DUPLICATE": N_("材料“{name}”提交了多次。"),
    "MATERIAL_LICENCE_MISMATCH": N_("所选证照不能作为材料“{name}”。"),
    "MATERIALS_MISSING": N_("缺少必需材料：{names}。"),
    "APPROVAL_RULES_INVALID": N_("秒批规则有误：{problem}"),
    "JOINT_NOT_OFFERED": N_("“{bundle}”暂不支持一次申请，请逐项办理。"),
    "JOINT_ITEM_CLOSED": N_("“{bundle}”中的事项“{items}”暂停办理，本次联办申请未提交。"),
    "JOINT_FORM_INVALID": N_("联办申请表有误，请按提示修改。"),
    "JOINT_APPLICATION_NOT_FOUND": N_("未找到该联办申请。"),
    "JOINT_PART_NOT_FOUND": N_("该联办申请中没有这一事项。"),
    "JOINT_PART_NOT_CORRECTABLE": N_("事项“{item}”当前状态为“{status}”，无需补正或重新提交。"),
    "FORM_INVALID": N_("申请表有 {count} 处填写有误：{fields}。请按每一栏的提示修改后再提交。"),
})
