"""The department services as catalogue search results (功能入口): found by the words people use for them, each
with the API call the app makes when it is chosen. Sample entries (示例), written by us."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.services.catalogue.service import IndexedItem

# (id, name, aliases, department, department id, region, category, action)
_ENTRIES: tuple[tuple[str, str, list[str], str, str, tuple[str, str], str, dict[str, Any]], ...] = (
    ("feature-social-insurance", "社保查询（参保状态、缴费明细）",
     ["社保查询", "社保缴费记录", "社保缴费明细", "参保状态", "五险查询", "养老保险查询", "social insurance"],
     "广东省人力资源和社会保障厅", "gd-hrss", ("province", "440000"), "社会保险",
     {"method": "GET", "path": "/api/v1/social-insurance", "also": ["/api/v1/social-insurance/contributions"]}),
    ("feature-social-insurance-proof", "社保个人权益记录打印（参保证明）",
     ["社保证明", "参保证明", "社保权益记录", "个人权益记录", "社保缴费证明打印", "social insurance record"],
     "广东省人力资源和社会保障厅", "gd-hrss", ("province", "440000"), "社会保险",
     {"method": "POST", "path": "/api/v1/social-insurance/proofs"}),
    ("feature-social-security-card", "电子社保卡（出示二维码）",
     ["电子社保卡", "社保卡二维码", "医保码", "看病买药扫码", "social security card"],
     "广东省人力资源和社会保障厅", "gd-hrss", ("province", "440000"), "社会保障卡",
     {"method": "POST", "path": "/api/v1/social-security-card/qr", "also": ["/api/v1/social-security-card"]}),
    ("feature-provident-fund", "公积金查询（余额、缴存明细）",
     ["公积金查询", "公积金余额", "公积金缴存明细", "住房公积金", "provident fund"],
     "广州住房公积金管理中心", "gz-gjj", ("city", "440100"), "住房公积金",
     {"method": "GET", "path": "/api/v1/provident-fund",
      "also": ["/api/v1/provident-fund/deposits", "/api/v1/provident-fund/withdrawal-eligibility"]}),
    ("feature-traffic-violations", "交通违法查询与缴款",
     ["违章查询", "交通违法查询", "罚款缴纳", "违章缴费", "交通罚款", "traffic fines"],
     "广东省公安厅", "gd-gat", ("province", "440000"), "交通管理",
     {"method": "GET", "path": "/api/v1/traffic/violations", "pay": "/api/v1/payments"}),
    ("feature-driving-licence", "驾驶证记分查询",
     ["驾照扣分", "驾驶证扣分查询", "驾驶证记分", "驾照查询", "driving licence points"],
     "广东省公安厅", "gd-gat", ("province", "440000"), "交通管理",
     {"method": "GET", "path": "/api/v1/traffic/driving-licence"}),
    ("feature-vehicles", "我的机动车（年检提醒）",
     ["我的车辆", "机动车查询", "年检查询", "车辆年检", "my vehicles"],
     "广东省公安厅", "gd-gat", ("province", "440000"), "交通管理",
     {"method": "GET", "path": "/api/v1/traffic/vehicles"}),
)


def search_features() -> list[IndexedItem]:
    """The entries catalogue search finds first, before 办事 items, for the words people type."""
    from app.services.catalogue.service import IndexedItem

    return [IndexedItem.build(id=id_, name=name, aliases=aliases, department=department,
                              department_id=department_id, region_level=region[0], region_code=region[1],
                              category=category, trips=0, time_limit_days=0, channels=["online", "mini_program"],
                              popularity=0, faq=[], kind="feature", action=action)
            for id_, name, aliases, department, department_id, region, category, action in _ENTRIES]


__all__ = ["search_features"]
