"""Our texts come from the gettext catalogs, in all three languages, for every marked message.

Every text written in code is its zh-Hans text marked with `N_` (the msgid): the error messages
each domain registers for its codes, and the inbox and SMS templates, labels and spoken sentences
of the domains. locales/ holds that text and its zh-Hant and English translations. A citizen must
never get a reply in the wrong language because a translation was forgotten, nor a raw
`{placeholder}`, nor no words at all because a domain's codes were never registered: each of
those fails here before it ships.
"""

from __future__ import annotations

import ast
import functools
import io
import string
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from app.errors import AppError, register_messages, registered_messages
from app.i18n import CATALOG_FOLDERS, EN, LANGUAGES, LOCALES, NC_, ZH_HANS, ZH_HANT, compile_po, translate
from app.server import ERROR_REGISTRIES
from tests.factories import last_code, new_phone

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("app", "api", "health_code", "elderly_mode")


def compiled(language: str) -> Catalog:
    """The language's catalog as the server gets it: compiled, fuzzy entries left out."""
    po = LOCALES / CATALOG_FOLDERS[language] / "LC_MESSAGES" / "messages.po"
    return read_mo(io.BytesIO(compile_po(po)))


def po_catalog(path: Path) -> Catalog:
    with path.open("rb") as po:
        return read_po(po)


@functools.cache
def marked() -> frozenset[tuple[str | None, str]]:
    """Every `N_("...")` and `NC_("context", "...")` in the source tree as (context, text), found the way
    `make i18n-update` finds them."""
    found = set()
    for top in SOURCES:
        for _, _, message, _, context in extract_from_dir(ROOT / top, method_map=[("**.py", "python")],
                                                          keywords={"N_": None, "NC_": ((1, "c"), 2)}):
            found.add((context, message))
    return frozenset(found)


def marked_messages() -> frozenset[str]:
    """The texts marked without a context."""
    return frozenset(message for context, message in marked() if context is None)


def text_in(catalog: Catalog, context: str | None, message: str) -> str | None:
    found = catalog.get(message, context=context)
    return found.string if found and found.string else None


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


# -- every message, every language ---------------------------------------------------------------

def test_the_marked_messages_are_the_texts_of_every_domain():
    marked = marked_messages()
    assert set(registered_messages().values()) <= marked, "a registered code's text is not marked with N_"
    # a few texts of the domains beside the error codes: templates, labels, spoken sentences
    assert {"新设备登录提醒", "企业职工基本养老保险", "已办结", "待支付", "证号", "您的健康码是{colour}。{reasons}。这个码的有效期到 {until}。"} <= marked


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_marked_message_has_its_text_in_the_compiled_catalog(language):
    catalog = compiled(language)
    lacking = sorted(marked_text for marked_text in marked() if not text_in(catalog, *marked_text))
    assert not lacking, f"no {language} text (missing, empty or fuzzy) for: {lacking}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_registered_code_has_its_message_in_the_compiled_catalog(language):
    catalog = compiled(language)
    lacking = {code: source for code, source in registered_messages().items()
               if not (catalog.get(source) and catalog.get(source).string)}
    assert not lacking, f"no {language} text (missing, empty or fuzzy) for: {sorted(lacking)}"


def test_the_zh_hans_catalog_is_the_source_text_itself():
    catalog = compiled(ZH_HANS)
    differ = sorted((context, source) for context, source in marked() if text_in(catalog, context, source) != source)
    assert not differ, f"zh_Hans must repeat the msgid (change the text in code instead): {sorted(differ)}"


@pytest.mark.parametrize("language", [ZH_HANT, EN])
def test_a_translation_keeps_the_placeholders_of_its_source(language):
    catalog = compiled(language)
    wrong = {source: (placeholders(source), placeholders(text_in(catalog, context, source) or ""))
             for context, source in marked()
             if placeholders(source) != placeholders(text_in(catalog, context, source) or "")}
    assert not wrong, f"{language} placeholders differ from the source: {wrong}"


# -- the catalogs and the code agree --------------------------------------------------------------

@pytest.mark.parametrize("path", [LOCALES / "messages.pot"]
                         + [LOCALES / folder / "LC_MESSAGES" / "messages.po" for folder in CATALOG_FOLDERS.values()],
                         ids=lambda path: str(path.relative_to(LOCALES)))
def test_a_catalog_holds_exactly_the_marked_messages(path):
    in_catalog = {(message.context, message.id) for message in po_catalog(path) if message.id}
    in_code = set(marked())
    assert not in_code - in_catalog, f"marked but not in {path.name} (run make i18n-update): {in_code - in_catalog}"
    assert not in_catalog - in_code, f"stale in {path.name}, no code says it (run make i18n-update): {in_catalog - in_code}"


def _registering_modules() -> set[str]:
    """Every module in the source tree that calls register_messages at its top level."""
    found = set()
    for top in SOURCES:
        for path in (ROOT / top).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for statement in tree.body:
                call = statement.value if isinstance(statement, ast.Expr) else None
                if isinstance(call, ast.Call) and getattr(call.func, "id", None) == "register_messages":
                    found.add(".".join(path.relative_to(ROOT).with_suffix("").parts))
    return found


def test_the_server_imports_every_domain_registry():
    # app.errors registers the core's codes itself; every other registry must be in the server's list.
    registering = _registering_modules() - {"app.errors"}
    assert {"app.accounts.errors", "app.payments.errors", "health_code.errors"} <= registering
    assert registering == {module.__name__ for module in ERROR_REGISTRIES}


def test_a_code_is_registered_with_one_message_only():
    with pytest.raises(ValueError, match="NOT_FOUND"):
        register_messages({"NOT_FOUND": "别的说法。"})
    assert AppError("NOT_FOUND").message(ZH_HANS) == "找不到您要访问的内容。"


def test_a_code_nobody_registered_says_the_request_is_invalid():
    unknown = AppError("NO_SUCH_CODE")
    assert [unknown.message(language) for language in LANGUAGES] == ["请求有误。", "請求有誤。", "The request is invalid."]


def test_a_code_may_borrow_the_words_of_another():
    expired = AppError("TOKEN_EXPIRED", status=410, message_key="PRESENTATION_EXPIRED")
    assert [expired.message(language) for language in LANGUAGES] == [
        "该二维码已过期，请让对方刷新后重新出示。", "該二維碼已過期，請讓對方重新整理後再出示。", "This code has expired; ask for a fresh one."]


# -- what a caller reads ---------------------------------------------------------------------------

ACCEPT = {ZH_HANS: "zh-CN", ZH_HANT: "zh-TW", EN: "en-GB,en;q=0.9"}


@pytest.mark.parametrize(("language", "message"), [
    (ZH_HANS, "找不到您要访问的内容。"),
    (ZH_HANT, "找不到您要存取的內容。"),
    (EN, "The requested resource was not found."),
])
async def test_an_unknown_address_is_answered_in_the_callers_language(client, language, message):
    reply = await client.get("/api/v1/no-such-thing", headers={"Accept-Language": ACCEPT[language]})
    assert reply.status_code == 404
    assert reply.json()["error"]["code"] == "NOT_FOUND"
    assert reply.json()["error"]["message"] == message


@pytest.mark.parametrize(("language", "message"), [
    (ZH_HANS, "验证码不正确，还可尝试 4 次。"),
    (ZH_HANT, "驗證碼不正確，還可嘗試 4 次。"),
    (EN, "The code is incorrect. 4 tries left."),
])
async def test_a_wrong_login_code_says_the_tries_left_in_the_callers_language(client, sms, language, message):
    phone = new_phone()
    assert (await client.post("/api/v1/auth/otp", json={"phone": phone})).status_code == 202
    wrong = "000000" if last_code(sms, phone) != "000000" else "111111"
    reply = await client.post("/api/v1/auth/login", json={"phone": phone, "code": wrong},
                              headers={"Accept-Language": ACCEPT[language]})
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "OTP_INVALID"
    assert reply.json()["error"]["tries_left"] == 4
    assert reply.json()["error"]["message"] == message


@pytest.mark.parametrize(("language", "message"), [
    (ZH_HANS, "请先登录。"),
    (ZH_HANT, "請先登入。"),
    (EN, "Please sign in."),
])
async def test_a_request_without_a_token_is_asked_to_sign_in_in_the_callers_language(client, language, message):
    reply = await client.get("/api/v1/me", headers={"Accept-Language": ACCEPT[language]})
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "AUTH_REQUIRED"
    assert reply.json()["error"]["message"] == message


@pytest.mark.parametrize("language, plain, in_context", [
    (ZH_HANS, "正常", "正常"),
    (ZH_HANT, "正常", "正常"),
    (EN, "OK", "Active"),
])
def test_one_zh_hans_text_may_say_another_thing_in_its_context(language, plain, in_context):
    """A status label's 正常 is "OK"; a provident-fund account's is "Active" (a gettext msgctxt)."""
    assert translate("正常", language) == plain
    assert translate(NC_("公积金账户状态", "正常"), language) == in_context
    assert translate(NC_("健康码颜色", "绿码"), language) == {ZH_HANS: "绿码", ZH_HANT: "綠碼", EN: "Green"}[language]
