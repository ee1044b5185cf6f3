"""A person looks for a service the way people type: Chinese, pinyin, initials, other words for the same thing.

The sample catalogue is seeded at start-up (outside production), so these searches run against
the same items a new user sees after `make run`.
"""

from __future__ import annotations

import time

import pytest

from app.services.catalogue.models import ServiceItem

SEARCH = "/api/v1/services/search"


async def search(client, q: str, **params) -> dict:
    reply = await client.get(SEARCH, params={"q": q, **params})
    assert reply.status_code == 200, reply.text
    return reply.json()


def names(body: dict) -> list[str]:
    return [item["name"] for item in body["items"]]


async def test_initials_sbk_find_the_social_security_card_first(client):
    body = await search(client, "sbk")
    assert body["items"], "sbk found nothing"
    top = body["items"][:5]
    assert all("社保卡" in i["name"] or "社会保障卡" in i["name"] for i in top), names(body)
    assert {"id", "name", "department"} <= set(top[0])
    assert top[0]["department"].endswith(("人力资源和社会保障厅", "人力资源和社会保障局"))
    assert body["suggestions"] == []


async def test_full_pinyin_finds_the_same_items(client):
    body = await search(client, "shebaoka")
    assert "社会保障卡申领" in names(body)[:5]
    upper = await search(client, "SheBaoKa")  # phones capitalise the first letter
    assert names(upper) == names(body)


async def test_a_chinese_name_finds_its_item_first(client):
    body = await search(client, "异地就医备案")
    assert names(body)[0] == "异地就医备案"
    assert body["items"][0]["department"] == "广东省医疗保障局"


async def test_an_alias_finds_the_item_by_its_official_name(client):
    body = await search(client, "公司核名")
    assert names(body)[0] == "企业名称自主申报"


async def test_words_from_the_faq_find_the_item(client):
    body = await search(client, "直接结算")
    assert "异地就医备案" in names(body)


async def test_a_synonym_finds_items_written_with_another_word(client):
    body = await search(client, "长辈优待证")
    assert names(body)[0] == "老年人优待证办理"
    elders = names(await search(client, "长辈"))
    assert "老年人优待证办理" in elders and "老年人免费健康体检预约" in elders
    stored = await ServiceItem.get(name="老年人优待证办理")
    assert "长辈" not in stored.search_text  # found through the synonym, not by its own words


async def test_a_district_sees_its_own_its_city_and_province_items_but_no_other_district(client):
    tianhe = await search(client, "高龄老人津贴", region="440106")
    regions = {i["region_code"] for i in tianhe["items"]}
    assert "440106" in regions
    assert not regions & {"440104", "440304"}, regions  # 越秀 and 福田 run their own
    social = await search(client, "社保卡", region="440106")
    codes = {i["region_code"] for i in social["items"]}
    assert "440000" in codes and "440300" not in codes  # the province's card, not Shenzhen's
    everywhere = await search(client, "高龄老人津贴")
    assert {"440106", "440104", "440304"} <= {i["region_code"] for i in everywhere["items"]}


async def test_a_malformed_region_is_refused(client):
    for region in ("4401", "44010a", "440106' OR 1=1"):
        reply = await client.get(SEARCH, params={"q": "社保卡", "region": region})
        assert reply.status_code == 422, region
        assert reply.json()["error"]["code"] == "INVALID_REGION_CODE"


async def test_equally_good_matches_are_ordered_by_popularity(client, clock):
    body = await search(client, "高龄老人津贴申领")
    same_name = [i for i in body["items"] if i["name"] == "高龄老人津贴申领"]
    assert len(same_name) == 3
    rows = {r.id: r.popularity for r in await ServiceItem.filter(id__in=[i["id"] for i in same_name])}
    assert [rows[i["id"]] for i in same_name] == sorted(rows.values(), reverse=True)
    # Two districts' items become equally used (counted by other workers); within minutes the ranking follows.
    first, second = same_name[0]["id"], same_name[1]["id"]
    await ServiceItem.filter(id=second).update(popularity=rows[first])
    clock.advance(301)
    tied = [i["id"] for i in (await search(client, "高龄老人津贴申领"))["items"] if i["name"] == "高龄老人津贴申领"]
    assert tied[:2] == sorted([first, second])
    # One more person reads the other one's guide: it moves up on this worker at once.
    behind = tied[1]
    assert (await client.get(f"/api/v1/services/{behind}")).status_code == 200
    reordered = [i["id"] for i in (await search(client, "高龄老人津贴申领"))["items"] if i["name"] == "高龄老人津贴申领"]
    assert reordered[0] == behind
    assert (await ServiceItem.get(id=behind)).popularity == rows[first] + 1


async def test_relevance_comes_before_popularity(client):
    # 养老保险待遇资格认证 is used more, but only an alias of it says 养老金; the other's own name does.
    found = names(await search(client, "养老金"))
    assert found[0] == "企业职工基本养老金申领"
    popular = await ServiceItem.get(name="养老保险待遇资格认证")
    assert popular.popularity > (await ServiceItem.get(name="企业职工基本养老金申领")).popularity
    # Among alias matches, the more used comes first.
    assert found.index("养老保险待遇资格认证") < found.index("深圳退休申请")


async def test_nothing_found_suggests_close_items(client):
    typo = await search(client, "结昏登记")  # 昏 for 婚
    assert typo["items"] == []
    assert "内地居民结婚登记" in [s["name"] for s in typo["suggestions"]]
    pinyin_typo = await search(client, "shebaokka")
    assert pinyin_typo["items"] == [] and any("社" in s["name"] for s in pinyin_typo["suggestions"])
    nonsense = await search(client, "量子纠缠")
    assert nonsense["items"] == [] and nonsense["suggestions"], "a person always gets somewhere to go"


@pytest.mark.parametrize("q", ["' OR 1=1 --", "%_%", "\\", "<script>alert(1)</script>", "社保卡'; DROP TABLE service_items; --",
                               "%", "_", "\x00", "*", "[a-z]", "${jndi:ldap://x}"])
async def test_injection_strings_are_just_text(client, q):
    reply = await client.get(SEARCH, params={"q": q})
    assert reply.status_code in (200, 422), reply.text
    if reply.status_code == 422:
        assert reply.json()["error"]["code"] == "SEARCH_QUERY_REQUIRED"  # nothing left after trimming
        return
    body = reply.json()
    assert len(body["items"]) < 5, "a wildcard must not match the whole catalogue"
    assert "<script>" not in reply.text
    assert await ServiceItem.all().count() >= 150


async def test_an_injection_with_a_real_word_finds_only_that_word(client):
    body = await search(client, "社保卡' OR 1=1 --")
    assert body["items"] == [] or all("社保" in i["name"] or "社会保障" in i["name"] for i in body["items"])


async def test_a_10_kb_query_is_refused_quickly_with_a_clear_message(client):
    started = time.perf_counter()
    for q in ("社保卡" * 1200, "a" * 10_240, "' OR 1=1 --" * 1000):  # about 10 kB each
        reply = await client.get(SEARCH, params={"q": q})
        assert reply.status_code == 422, reply.text[:200]
    assert time.perf_counter() - started < 1
    error = reply.json()["error"]
    assert error["code"] == "SEARCH_QUERY_TOO_LONG" and "100" in error["message"]
    assert error["max_length"] == 100
    edge = await client.get(SEARCH, params={"q": "  " + "社" * 100 + "  "})  # trimmed first
    assert edge.status_code == 200


async def test_emoji_are_ignored_and_the_words_still_count(client):
    body = await search(client, "🚗 驾驶证换证 🙏")
    assert names(body)[0] == "机动车驾驶证换证"
    only_emoji = await search(client, "👴🏻👵")
    assert only_emoji["items"] == [] and only_emoji["suggestions"]


async def test_an_empty_query_is_refused(client):
    for params in ({"q": ""}, {"q": "   "}, {}):
        reply = await client.get(SEARCH, params=params)
        assert reply.status_code == 422
        assert reply.json()["error"]["code"] == "SEARCH_QUERY_REQUIRED"
        assert reply.json()["error"]["message"] == "请输入要搜索的事项名称或关键词。"
    english = await client.get(SEARCH, headers={"Accept-Language": "en"})
    assert english.json()["error"]["message"].startswith("Enter the name")


async def test_several_words_must_all_match(client):
    body = await search(client, "公积金 租房")
    assert names(body)[0] == "租房提取住房公积金"
    assert all("公积金" in n for n in names(body))


async def test_searching_is_rate_limited_per_caller(client, app, monkeypatch):
    monkeypatch.setattr("app.services.catalogue.service.SEARCHES_PER_MINUTE", 3)
    for _ in range(3):
        await search(client, "社保卡")
    reply = await client.get(SEARCH, params={"q": "社保卡"})
    assert reply.status_code == 429
    assert reply.json()["error"]["code"] == "RATE_LIMITED" and int(reply.headers["Retry-After"]) >= 1


async def test_a_question_in_plain_words_finds_the_item_it_names(client):
    body = await search(client, "我想办理新生儿出生证明")
    assert names(body)[0] == "出生医学证明首次签发"
    body = await search(client, "办护照要多久")
    assert names(body)[0] == "普通护照签发"


async def test_search_replies_hold_only_published_catalogue_fields(client):
    body = await search(client, "社保卡")
    assert set(body) == {"items", "suggestions", "total"}
    assert body["total"] >= len(body["items"]) > 0
    assert set(body["items"][0]) == {"id", "name", "department", "department_id", "region_level", "region_code",
                                     "category", "time_limit_days", "trips", "zero_trip", "channels",
                                     "kind", "action"}  # kind: item or feature (the elderly-mode switch)


@pytest.mark.parametrize("query, feature, path", [
    ("违章查询", "feature-traffic-violations", "/api/v1/traffic/violations"),
    ("公积金余额", "feature-provident-fund", "/api/v1/provident-fund"),
    ("电子社保卡", "feature-social-security-card", "/api/v1/social-security-card/qr"),
    ("社保证明", "feature-social-insurance-proof", "/api/v1/social-insurance/proofs"),
    ("驾照扣分", "feature-driving-licence", "/api/v1/traffic/driving-licence"),
])
async def test_the_department_services_are_found_by_the_words_people_use(client, query, feature, path):
    top = (await search(client, query))["items"][0]
    assert (top["id"], top["kind"], top["action"]["path"]) == (feature, "feature", path)


async def test_pinyin_syllables_that_are_also_english_little_words_still_count(client):
    """"can ji ren" is 残疾人 typed in pinyin: its "can" is a syllable here, not the English "can"."""
    spelled = names(await search(client, "can ji ren"))
    assert "残疾人" in spelled[0], spelled
    without_can = names(await search(client, "ji ren"))
    assert set(spelled) < set(without_can), "can was dropped as an English word"
    english = await search(client, "how can I apply for a social security card", **{})
    assert english["total"] >= 1  # an English question still finds the card by its telling words


async def test_the_search_index_is_loaded_from_the_primary_even_beside_a_healthy_replica(client, app, platform,
                                                                                         monkeypatch):
    """The index is kept for minutes once loaded: loaded from a replica that has not yet replayed a withdrawal,
    it would go on offering the withdrawn item. Only the routing is looked at: no replica is needed."""
    from app import db

    class HealthyReplica(db.Replica):
        async def _probe(self) -> str | None:
            return None

    monkeypatch.setattr(db, "_replica", HealthyReplica(platform.cache, sticky_seconds=10, max_lag=5))
    monkeypatch.setattr(db, "inside_transaction", lambda: False)
    loaded_from: list[str] = []
    published = ServiceItem.filter

    def recorded(*args, **kwargs):
        loaded_from.append(db.serving_connection())
        return published(*args, **kwargs)

    monkeypatch.setattr(ServiceItem, "filter", recorded)
    await app.ctx.services.catalogue.index.changed()  # every worker reloads before its next search
    reply = await client.get(SEARCH, params={"q": "社保卡"})
    assert reply.status_code == 200, reply.text
    assert loaded_from and set(loaded_from) == {"default"}
