"""The government services domain's error codes: catalogue, applications, ratings, cards,
appointments, and a department that gave no data.

Each message is its zh-Hans text, marked with N_ so `pybabel extract` puts it in the catalogs
(locales/, docs/i18n.md); zh-Hant and English come from there at reply time.
"""

from __future__ import annotations

from app.errors import register_messages
from app.i18n import N_

register_messages({
    # The service catalogue (事项目录) and its search.
    "SEARCH_QUERY_REQUIRED": N_("请输入要搜索的事项名称或关键词。"),
    "SEARCH_QUERY_TOO_LONG": N_("搜索内容不能超过 {max} 个字，请精简后再试。"),
    "INVALID_REGION_CODE": N_("地区代码应为 6 位数字，例如 440106。"),
    "SERVICE_ITEM_NOT_FOUND": N_("未找到该事项，可能已下线，请重新搜索。"),
    "LIFE_EVENT_NOT_FOUND": N_("未找到该“一件事”主题。"),
    "DEPARTMENT_NOT_FOUND": N_("未找到部门 {department}。"),
    "SERVICE_ITEM_STATUS_CONFLICT": N_("事项当前状态为 {status}，不能进行此操作。"),
    # Online applications (办件) and 秒批 rules.
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
    # Ratings (好差评) and their follow-up.
    "RATING_NOT_YET_ALLOWED": N_("办件办结后才能评价。"),
    "RATING_EXISTS": N_("您已评价过该办件，每个办件只能评价一次。"),
    "FOLLOW_UP_NOT_FOUND": N_("未找到该差评回访工单。"),
    "FOLLOW_UP_CLOSED": N_("该差评回访工单已答复。"),
    # Home-screen service cards (服务卡片).
    "CARD_TYPE_UNKNOWN": N_("没有这种服务卡片：{card_type}。"),
    "CARD_TYPE_REPEATED": N_("服务卡片 {card_type} 重复出现，每种卡片只能添加一次。"),
    "CARD_NOT_PINNED": N_("首页没有服务卡片 {card_type}。"),
    # Appointments (网上预约).
    "SLOT_NOT_FOUND": N_("未找到该预约时段。"),
    "SLOT_FULL": N_("该时段已约满，请选择其他时段。"),
    "SLOT_STARTED": N_("该时段已开始或已结束，不能再预约。"),
    "SLOT_OTHER_ITEM": N_("只能改约到同一事项的其他时段。"),
    "ALREADY_BOOKED": N_("您当天已预约该事项，如需更换时段请使用改约。"),
    "APPOINTMENT_NOT_FOUND": N_("未找到该预约。"),
    "APPOINTMENT_NOT_ACTIVE": N_("该预约已取消。"),
    "APPOINTMENT_STARTED": N_("预约时间已到，不能再改约或取消。"),
    "APPOINTMENT_CHANGED": N_("该预约刚刚已被更改，请刷新后重试。"),
    # A department asked through the data exchange (docs/exchange.md) gave no data.
    "DEPARTMENT_UNAVAILABLE": N_("部门系统暂时无法连接，请 {retry_after} 秒后再试。"),
    "DEPARTMENT_PURPOSE_NOT_AUTHORISED": N_("该部门未授权本平台为此用途查询您的信息，请通过该部门的窗口或官方渠道办理。"),
    "DEPARTMENT_SUBJECT_UNKNOWN": N_("该部门没有您的相关记录。如有疑问，请联系该部门。"),
    "DEPARTMENT_REFUSED": N_("部门系统未能受理本次请求，请稍后再试；如仍不成功，请联系客服。"),
})
