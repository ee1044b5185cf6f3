"""秒批 rules: the catalogue administrator tightens an item's rules; applications already decided keep
the decision made under the old version, new ones are judged by the new one. And the small rule
language itself: what each fact and operator means, and what it refuses."""

from __future__ import annotations

import pytest

from app.errors import AppError
from app.services.applications import approval
from app.services.applications.approval import Facts
from app.services.applications.models import Application
from app.services.catalogue.models import ServiceItem

from tests.factories import make_department
from tests.services.service_factory import APPLICATIONS, ELDERLY_RULES, apply, error_code, make_item

RULES = "/api/admin/v1/services/{}/approval-rules"


async def test_a_rule_change_applies_to_new_applications_only(client, clock, catalogue_admin, grandma, grandma_card):
    item = await make_item(clock, rules={"all": [{"fact": "age", "op": ">=", "value": 60}]}, materials=[])
    before = (await apply(client, grandma, item.id, materials=[])).json()
    assert before["status"] == "completed" and before["decision"]["rules_version"] == 1

    over_80 = {"all": [{"fact": "age", "op": ">=", "value": 80}]}
    changed = await client.put(RULES.format(item.id), headers=catalogue_admin.headers(), json={"rules": over_80})
    assert changed.status_code == 200, changed.text
    assert changed.json() == {"item_id": item.id, "rules_version": 2, "approval_rules": over_80}

    after = (await apply(client, grandma, item.id, materials=[])).json()
    assert after["status"] == "under_review"
    assert after["decision"]["rules_version"] == 2
    assert after["decision"]["rules"] == [{"fact": "age", "op": ">=", "value": 80, "passed": False,
                                           "text": "年龄不低于80周岁"}]
    kept = (await client.get(f"{APPLICATIONS}/{before['id']}", headers=grandma.headers)).json()
    assert kept["status"] == "completed" and kept["decision"] == before["decision"]
    assert (await Application.get(id=before["id"])).decision["rules_version"] == 1

    read = await client.get(RULES.format(item.id), headers=catalogue_admin.headers())
    assert read.json()["rules_version"] == 2


async def test_removing_the_rules_sends_everything_to_review(client, clock, catalogue_admin, grandma, grandma_card,
                                                             elderly_item):
    removed = await client.put(RULES.format(elderly_item.id), headers=catalogue_admin.headers(), json={"rules": None})
    assert removed.status_code == 200 and removed.json()["approval_rules"] is None
    reply = await apply(client, grandma, elderly_item.id)
    assert reply.json()["status"] == "under_review" and reply.json()["decision"]["reason"] == "no_rules"


@pytest.mark.parametrize("rules, problem", [
    ({"any": []}, "rules"),
    ({"all": [{"fact": "income", "op": ">", "value": 1}]}, "rules.all.0"),
    ({"all": [{"fact": {"$gt": ""}, "op": ">", "value": 1}]}, "rules.all.0"),  # was a 500 (unhashable)
    ({"all": [{"fact": "age", "op": "~", "value": 1}]}, "rules.all.0"),
    ({"all": [{"fact": "age", "op": ">=", "value": "sixty"}]}, "rules.all.0"),
    ({"all": [{"fact": "age", "op": ">=", "value": True}]}, "rules.all.0"),
    ({"all": [{"fact": "region", "op": "in", "value": []}]}, "rules.all.0"),
    ({"all": [{"fact": "age", "op": ">=", "value": 1}, {"fact": "holds_licence", "op": ">=", "value": "x"}]},
     "rules.all.1"),
    ({"all": [{"fact": "age", "op": ">=", "value": 1, "because": "x"}]}, "rules.all.0"),
])
async def test_rules_that_do_not_parse_are_refused_saying_where(client, clock, catalogue_admin, rules, problem):
    item = await make_item(clock, rules=ELDERLY_RULES)
    reply = await client.put(RULES.format(item.id), headers=catalogue_admin.headers(), json={"rules": rules})
    assert reply.status_code == 422 and error_code(reply) == "APPROVAL_RULES_INVALID"
    assert reply.json()["error"]["fields"][0]["field"] == problem
    assert (await ServiceItem.get(id=item.id)).rules_version == 1


async def test_only_a_catalogue_administrator_changes_rules(client, clock, clerk, catalogue_admin):
    item = await make_item(clock)
    refused = await client.put(RULES.format(item.id), headers=clerk.headers(), json={"rules": None})
    assert refused.status_code == 403 and error_code(refused) == "CLIENT_ROLE_REQUIRED"
    assert (await client.get(RULES.format(item.id), headers=clerk.headers())).status_code == 200
    elsewhere = await make_department(clock, "广州市市场监督管理局办件窗口（示例）", ["clerk"], department_id="gz-market-sample")
    hidden = await client.get(RULES.format(item.id), headers=elsewhere.headers())  # another department's item
    assert hidden.status_code == 404 and error_code(hidden) == "APPLICATION_ITEM_NOT_FOUND"
    missing = await client.put(RULES.format("no-such-item"), headers=catalogue_admin.headers(), json={"rules": None})
    assert missing.status_code == 404 and error_code(missing) == "APPLICATION_ITEM_NOT_FOUND"


async def test_hand_edited_rules_that_do_not_parse_approve_nothing(client, clock, grandma, grandma_card):
    item = await make_item(clock, rules={"all": [{"fact": "age", "op": "≥", "value": 60}]}, materials=[])
    reply = await apply(client, grandma, item.id, materials=[])
    assert reply.status_code == 201 and reply.json()["status"] == "under_review"


# -- the rule language -------------------------------------------------------------------------------

ELDER = Facts(identity_level=3, age=76, region="440104", licences=frozenset({"social_security_card"}),
              prior_applications=0)
UNVERIFIED = Facts(identity_level=1, age=None, region=None)


@pytest.mark.parametrize("rule, elder, unverified", [
    ({"fact": "identity_level", "op": ">=", "value": 3}, True, False),
    ({"fact": "identity_level", "op": "in", "value": [2, 3]}, True, False),
    ({"fact": "age", "op": "<", "value": 76}, False, False),
    ({"fact": "age", "op": "<=", "value": 76}, True, False),
    ({"fact": "age", "op": "!=", "value": 76}, False, False),  # an unknown age never passes
    ({"fact": "region", "op": "starts_with", "value": "4401"}, True, False),
    ({"fact": "region", "op": "not_in", "value": ["440104"]}, False, False),
    ({"fact": "holds_licence", "value": "social_security_card"}, True, False),
    ({"fact": "holds_licence", "op": "lacks", "value": "driving_licence"}, True, True),
    ({"fact": "prior_applications", "op": "==", "value": 0}, True, True),
    ({"fact": "prior_applications", "op": ">", "value": 0}, False, False),
])
def test_each_operator_means_what_it_says(rule, elder, unverified):
    rules = approval.check_rules({"all": [rule]})
    assert approval.decide(rules, 1, ELDER)["rules"][0]["passed"] is elder
    assert approval.decide(rules, 1, UNVERIFIED)["auto_approved"] is unverified


def test_one_failing_rule_refuses_and_all_results_are_kept():
    rules = approval.check_rules(ELDERLY_RULES)
    decision = approval.decide(rules, 4, Facts(identity_level=2, age=59, region="440104",
                                               licences=frozenset({"social_security_card"})))
    assert decision["auto_approved"] is False and decision["rules_version"] == 4
    assert [r["passed"] for r in decision["rules"]] == [True, False, True, True]


def test_the_version_field_of_a_posted_rule_set_is_accepted_and_empty_means_none():
    assert approval.check_rules({"version": 2, "all": [{"fact": "age", "op": ">=", "value": 60}]}) == {
        "all": [{"fact": "age", "op": ">=", "value": 60}]}
    assert approval.check_rules({"all": []}) is None
    with pytest.raises(AppError):
        approval.check_rules([{"fact": "age"}])


def test_age_counts_full_years():
    from datetime import date

    assert approval.age_on(date(1950, 6, 12), date(2010, 6, 11)) == 59
    assert approval.age_on(date(1950, 6, 12), date(2010, 6, 12)) == 60
    assert approval.birth_date_of("44010419500612284X") == date(1950, 6, 12)


def test_each_rule_reads_in_plain_words():
    rules = approval.check_rules({"all": [
        {"fact": "identity_level", "op": ">=", "value": 2},
        {"fact": "region", "op": "starts_with", "value": "4401"},
        {"fact": "holds_licence", "value": "social_security_card"},
        {"fact": "prior_applications", "op": "==", "value": 0, "text": "首次申请"},
    ]})
    texts = [r["text"] for r in approval.decide(rules, 1, ELDER)["rules"]]
    assert texts == ["身份认证等级不低于2级", "身份证号码所属地区以 4401 开头", "持有有效的电子证照（social_security_card）",
                     "首次申请"]


def test_a_decision_reads_in_the_readers_language_where_we_made_its_words():
    rules = approval.check_rules({"all": [
        {"fact": "age", "op": "in", "value": [60, 65]},
        {"fact": "identity_level", "op": ">=", "value": 2},
        {"fact": "holds_licence", "op": "lacks", "value": "social_security_card"},
        {"fact": "prior_applications", "op": "==", "value": 0, "text": "首次申请"},
        {"fact": "hpf_withdrawal_rent", "value": "normal"},
    ]})
    decision = approval.decide(rules, 1, ELDER)
    said = {language: [r["text"] for r in approval.decision_in(decision, language)["rules"]]
            for language in ("zh-Hans", "zh-Hant", "en")}
    assert said["zh-Hans"] == ["年龄属于60、65周岁", "身份认证等级不低于2级", "未持有有效的电子证照（social_security_card）",
                               "首次申请", "部门核验：normal"]
    # the catalogue's own text and the department's words stay as they were written
    assert said["zh-Hant"] == ["年齡屬於60、65週歲", "身分認證等級不低於2級", "未持有有效的電子證照（social_security_card）",
                               "首次申请", "部门核验：normal"]
    assert said["en"] == ["age is one of 60, 65 years", "identity level at least 2",
                          "Holds no valid e-licence (social_security_card)", "首次申请", "部门核验：normal"]
    assert approval.decision_in(decision, "zh-Hans") is decision


def test_a_department_check_passes_only_as_the_department_answered():
    rules = approval.check_rules({"all": [
        {"fact": "hpf_withdrawal_rent", "value": "normal", "text": "账户正常"},
        {"fact": "hpf_withdrawal_rent", "op": "unmet", "value": "interval"},
    ]})
    answered = Facts(identity_level=2, age=40, region="440106", checks={"hpf_withdrawal_rent": {
        "normal": approval.Check(True, "账户处于正常缴存状态"), "interval": approval.Check(False, "距上次租房提取满3个月")}})
    decision = approval.decide(rules, 1, answered)
    assert [(r["op"], r["passed"], r["text"]) for r in decision["rules"]] == [
        ("met", True, "账户处于正常缴存状态"), ("unmet", True, "不符合：距上次租房提取满3个月")]
    not_asked = approval.decide(rules, 1, Facts(identity_level=2, age=40, region="440106"))
    assert not_asked["auto_approved"] is False
    assert [(r["passed"], r["text"]) for r in not_asked["rules"]] == [(False, "账户正常"),
                                                                       (False, "不符合：部门核验：interval")]


@pytest.mark.parametrize("rule", [
    {"fact": "hpf_withdrawal_rent", "op": ">=", "value": "normal"},
    {"fact": "hpf_withdrawal_rent", "value": 3},
    {"fact": "age", "op": ">=", "value": 60, "text": ""},
    {"fact": "age", "op": ">=", "value": 60, "text": "长" * 101},
])
def test_a_department_check_or_text_that_does_not_fit_is_refused(rule):
    with pytest.raises(AppError) as refused:
        approval.check_rules({"all": [rule]})
    assert refused.value.code == "APPROVAL_RULES_INVALID"
