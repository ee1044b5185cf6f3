"""The catalogue in the reader's language: zh-Hans as written, zh-Hant and English from the `catalogue` catalogs.

Every text of the sample catalogue a citizen is shown must have its zh-Hant and English translation
(not empty, not fuzzy): a forgotten one fails here, not in front of a Hong Kong or English reader.
An item an administrator writes has no translation until the next extraction: it is shown as written.
"""

from __future__ import annotations

import io
import json
import re

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from app.i18n import CATALOG_FOLDERS, EN, LANGUAGES, LOCALES, ZH_HANS, ZH_HANT, compile_po
from app.services.catalogue import words
from app.services.catalogue.service import SAMPLE_FILE
from tests.factories import make_department

ACCEPT = {ZH_HANS: "zh-CN", ZH_HANT: "zh-HK", EN: "en-GB,en;q=0.9"}
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")


def po_path(language: str):
    return LOCALES / CATALOG_FOLDERS[language] / "LC_MESSAGES" / f"{words.DOMAIN}.po"


def compiled(language: str) -> Catalog:
    """The language's catalogue catalog as the server gets it: compiled, fuzzy entries left out."""
    return read_mo(io.BytesIO(compile_po(po_path(language))))


def shown() -> dict[str, str]:
    data = json.loads(SAMPLE_FILE.read_text(encoding="utf-8"))
    return {text: what for text, what in words.shown_texts(data) if text}


# -- the catalogs hold every text -------------------------------------------------------------------

@pytest.mark.parametrize("language", [ZH_HANT, EN])
def test_every_text_of_the_sample_catalogue_has_its_translation(language):
    with po_path(language).open("rb") as po:
        fuzzy = sorted(m.id for m in read_po(po) if m.id and m.fuzzy)
    assert not fuzzy, f"fuzzy in {language} (check against the new wording, then drop the flag): {fuzzy}"
    catalog = compiled(language)
    lacking = {text: what for text, what in shown().items() if not (catalog.get(text) and catalog.get(text).string)}
    assert not lacking, f"no {language} text (run make i18n-update, then translate): {lacking}"


def test_the_english_catalogue_is_english_and_keeps_its_placeholders():
    catalog = compiled(EN)
    chinese = sorted(text for text in shown() if HAN.search(catalog.get(text).string))
    assert not chinese, f"English translations with Chinese left in: {chinese}"
    assert catalog.get(words.WORKING_DAYS).string == "{days} working days"
    assert catalog.get(words.WORKING_DAYS).string.count("{days}") == 1
    assert compiled(ZH_HANT).get(words.WORKING_DAYS).string.count("{days}") == 1


def test_the_zh_hans_catalog_repeats_the_source_and_the_template_holds_exactly_the_shown_texts():
    source = compiled(ZH_HANS)
    assert all(source.get(text).string == text for text in shown())
    for path in (LOCALES / f"{words.DOMAIN}.pot", *(po_path(language) for language in LANGUAGES)):
        with path.open("rb") as po:
            in_catalog = {m.id for m in read_po(po) if m.id}
        assert in_catalog == set(shown()), f"{path.name} is not up to date: run make i18n-update"


def test_a_department_name_in_english_is_its_own_name_en():
    catalog = compiled(EN)
    for department in json.loads(SAMPLE_FILE.read_text(encoding="utf-8"))["departments"]:
        assert catalog.get(department["name"]).string == department["name_en"]


def test_a_text_nobody_translated_stays_as_written():
    assert words.text("示例：管理员新写的事项", EN) == "示例：管理员新写的事项"
    assert words.text("", ZH_HANT) == ""
    assert words.department_name("某新设部门", None, EN) == "某新设部门"
    assert [words.time_limit(days, EN) for days in (0, 1, 20)] == ["On the spot", "1 working day", "20 working days"]
    assert [words.time_limit(days, ZH_HANT) for days in (0, 1, 20)] == ["即辦", "1 個工作日", "20 個工作日"]


# -- a citizen reads it in their language -----------------------------------------------------------

ITEM = {  # gd-hrss-001, the first item of the sample catalogue
    ZH_HANS: {"name": "社会保障卡申领", "department": "广东省人力资源和社会保障厅", "category": "社会保障卡"},
    ZH_HANT: {"name": "社會保障卡申領", "department": "廣東省人力資源和社會保障廳", "category": "社會保障卡"},
    EN: {"name": "Apply for a social security card",
         "department": "Department of Human Resources and Social Security of Guangdong Province",
         "category": "Social security card"},
}


async def get(client, url: str, language: str, **params) -> dict:
    reply = await client.get(url, params=params, headers={"Accept-Language": ACCEPT[language]})
    assert reply.status_code == 200, reply.text
    return reply.json()


@pytest.mark.parametrize("language", LANGUAGES)
async def test_a_guide_comes_in_the_callers_language(client, language):
    guide = await get(client, "/api/v1/services/gd-hrss-001", language)
    assert {key: guide[key] for key in ITEM[language]} == ITEM[language]
    expected = {
        ZH_HANS: ("居民身份证", "不收费", "20 个工作日", "省级", "网上办理", "社保卡多久能拿到？", "新生儿出生一件事"),
        ZH_HANT: ("居民身份證", "不收費", "20 個工作日", "省級", "網上辦理", "社保卡多久能拿到？", "新生兒出生一件事"),
        EN: ("Resident Identity Card", "Free of charge", "20 working days", "Provincial", "Online",
             "How long does it take to get a social security card?", "Having a baby"),
    }[language]
    assert (guide["materials"][0]["name"], guide["fee"], guide["time_limit_text"], guide["region_level_text"],
            guide["channels_text"][0], guide["faq"][1]["q"], guide["life_events"][0]["name"]) == expected
    assert guide["aliases"] == ["社保卡申领", "办社保卡", "社保卡办理"]  # words to search by, as written
    if language == EN:
        assert guide["legal_basis"] == "Social Insurance Law of the People's Republic of China"
        shown_texts = [guide["name"], guide["department"], guide["category"], guide["legal_basis"], guide["fee"],
                       guide["time_limit_text"], guide["region_level_text"], *guide["channels_text"],
                       *(m["name"] for m in guide["materials"]), *(m["licence_name"] or "" for m in guide["materials"]),
                       *(e["q"] + e["a"] for e in guide["faq"]), *(e["name"] for e in guide["life_events"])]
        assert not [t for t in shown_texts if HAN.search(t)], shown_texts
    if language == ZH_HANT:
        assert guide["legal_basis"] == "《中華人民共和國社會保險法》"


@pytest.mark.parametrize("language", LANGUAGES)
async def test_a_life_event_and_its_items_come_in_the_callers_language(client, language):
    listing = {b["code"]: b for b in (await get(client, "/api/v1/life-events", language))["items"]}
    bundle = await get(client, "/api/v1/life-events/newborn", language)
    name, starts = {ZH_HANS: ("新生儿出生一件事", "孩子出生后"), ZH_HANT: ("新生兒出生一件事", "孩子出生後"),
                    EN: ("Having a baby", "After your child is born")}[language]
    assert listing["newborn"]["name"] == bundle["name"] == name
    assert listing["newborn"]["description"] == bundle["description"] and bundle["description"].startswith(starts)
    item = next(i for i in bundle["items"] if i["id"] == "gd-hrss-001")
    assert {key: item[key] for key in ITEM[language]} == ITEM[language]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("query", ["社会保障卡申领", "shehuibaozhangka"])
async def test_a_search_matches_chinese_and_pinyin_and_answers_in_the_callers_language(client, language, query):
    body = await get(client, "/api/v1/services/search", language, q=query)
    top = body["items"][0]
    assert top["id"] == "gd-hrss-001"
    assert {key: top[key] for key in ITEM[language]} == ITEM[language]


async def test_an_item_is_also_found_by_its_name_in_traditional_chinese_or_english(client):
    hant = await get(client, "/api/v1/services/search", ZH_HANT, q="社會保障卡申領")
    assert hant["items"][0]["id"] == "gd-hrss-001"
    english = await get(client, "/api/v1/services/search", EN, q="Apply for a social security card")
    assert english["items"][0]["id"] == "gd-hrss-001"
    licence = [i for i in (await get(client, "/api/v1/services/search", EN, q="driving licen"))["items"]
               if i["kind"] == "item"]
    assert {i["id"] for i in licence} == {"gd-gat-012", "gd-gat-013"}
    assert all("driving licence" in i["name"].lower() for i in licence), licence
    # A little English word is no reason to list half the catalogue.
    little = (await get(client, "/api/v1/services/search", EN, q="the"))["items"]
    assert [i for i in little if i["kind"] == "item"] == []


async def test_suggestions_come_in_the_callers_language(client):
    body = await get(client, "/api/v1/services/search", EN, q="结昏登记")  # a typo: nothing matches
    assert body["items"] == [] and body["suggestions"]
    assert not [s["name"] for s in body["suggestions"] if HAN.search(s["name"])]


# -- an item written by an administrator ----------------------------------------------------------

@pytest.fixture
async def catalogue_admin(app, clock):
    return await make_department(clock, "广东省政务服务数据管理局目录管理", ["catalogue_admin"])


async def test_an_item_without_a_translation_is_shown_as_written(client, catalogue_admin):
    body = {"name": "示例：港澳居民来往内地通行证换发预约", "department_id": "gd-gat", "category": "示例：出入境预约",
            "aliases": ["回乡证换证"], "materials": [{"name": "居民身份证"}, {"name": "示例：近期免冠照片"}],
            "legal_basis": "", "time_limit_days": 10, "fee": "示例：按规定收取", "trips": 1,
            "channels": ["online"], "faq": [{"q": "示例：要本人去吗？", "a": "示例：需要。"}], "life_events": ["marriage"]}
    admin = "/api/admin/v1/services"
    created = await client.post(admin, headers={**catalogue_admin.headers(), "Accept-Language": "en"}, json=body)
    assert created.status_code == 201, created.text
    assert created.json()["name"] == body["name"] and created.json()["department"] == "广东省公安厅"  # the source text
    item_id = created.json()["id"]
    assert (await client.post(f"{admin}/{item_id}/publish", headers=catalogue_admin.headers())).status_code == 200

    guide = await get(client, f"/api/v1/services/{item_id}", EN)
    assert (guide["name"], guide["category"], guide["fee"], guide["faq"]) == (
        body["name"], body["category"], body["fee"], body["faq"])
    assert guide["department"] == "Department of Public Security of Guangdong Province"  # its name_en
    assert [m["name"] for m in guide["materials"]] == ["Resident Identity Card", "示例：近期免冠照片"]
    assert guide["time_limit_text"] == "10 working days"
    hant = await get(client, f"/api/v1/services/{item_id}", ZH_HANT)
    assert hant["name"] == body["name"] and hant["department"] == "廣東省公安廳"
    found = await get(client, "/api/v1/services/search", EN, q="回乡证")
    assert found["items"][0]["id"] == item_id and found["items"][0]["name"] == body["name"]
    assert found["items"][0]["department"] == "Department of Public Security of Guangdong Province"
    bundle = await get(client, "/api/v1/life-events/marriage", EN)
    assert bundle["items"][-1]["name"] == body["name"] and bundle["name"] == "Getting married"
