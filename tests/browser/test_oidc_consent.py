"""Sign in with this account elsewhere, in a real (headless) browser: a site (authlib's client side) sends the
browser to our authorization endpoint; the citizen signs in by SMS on the consent page, sees the site's name
and what it would learn in plain words, and approves (the page passes an automated accessibility audit); the browser lands back at the site with a code, which
the site exchanges and checks against our JWKS. Refusing brings the browser back with access_denied, and an
unknown redirect_uri stops at our error page."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.browser.test_h5 import serious_violations, sms_code
from tests.factories import new_phone
from tests.oidc.oidc_factory import data_bureau, register_site
from tests.oidc.relying_party import finish_sign_in, relying_party

CALLBACK = "http://127.0.0.1:9/oidc/callback"  # the site: answered by the browser's route below, never reached


async def _site_answers(page) -> None:
    async def fulfil(route) -> None:
        await route.fulfill(status=200, content_type="text/html; charset=utf-8",
                            body="<!doctype html><title>示例网站</title><p>已返回示例网站</p>")

    await page.route(re.compile(r"^http://127\.0\.0\.1:9/"), fulfil)


async def _sign_in_on_consent_page(page, live_url: str, phone: str) -> None:
    await page.get_by_role("heading", name="登录后授权").wait_for()
    await page.get_by_label("手机号码").fill(phone)
    await page.get_by_role("button", name="获取验证码").click()
    await page.get_by_text("验证码已发送").wait_for()
    await page.get_by_label("短信验证码").fill(await sms_code(live_url, phone))
    await page.get_by_role("button", name="登录", exact=True).click()


async def test_a_site_signs_a_citizen_in_through_the_consent_page(live_url, open_page, clock, screenshots):
    async with httpx.AsyncClient(base_url=live_url) as web:
        site = await register_site(web, await data_bureau(clock), redirect_uri=CALLBACK)
    rp = relying_party(live_url, site)
    started = await rp.create_authorization_url(redirect_uri=site.redirect_uri)
    page = await open_page(bypass_csp=True)  # for the audit's script only
    await _site_answers(page)
    await page.goto(started["url"])
    phone = new_phone()
    await _sign_in_on_consent_page(page, live_url, phone)

    await page.get_by_role("heading", name=re.compile("请求使用您的粤省事账号登录")).wait_for()
    assert await page.locator("#client-name").text_content() == site.name
    scopes = await page.locator("#scopes li").all_text_contents()
    assert scopes[0].startswith("识别您的身份") and any("138****" in s or "手机号码" in s for s in scopes)
    await page.screenshot(path=str(screenshots / "oidc-consent.png"))
    assert await serious_violations(page) == []
    await page.get_by_role("button", name="同意并登录").click()
    await page.wait_for_url(re.compile(r"^http://127\.0\.0\.1:9/oidc/callback\?"))

    signed_in = await finish_sign_in(rp, site, started, page.url)
    assert signed_in["id_token"]["iss"] == live_url
    assert signed_in["userinfo"]["phone_number_masked"] == phone[:3] + "****" + phone[-4:]


async def test_refusing_on_the_consent_page_returns_access_denied(live_url, open_page, clock):
    async with httpx.AsyncClient(base_url=live_url) as web:
        site = await register_site(web, await data_bureau(clock), redirect_uri=CALLBACK)
    started = await relying_party(live_url, site).create_authorization_url(redirect_uri=site.redirect_uri)
    page = await open_page()
    await _site_answers(page)
    await page.goto(started["url"])
    await _sign_in_on_consent_page(page, live_url, new_phone())
    await page.get_by_role("button", name="拒绝").click()
    await page.wait_for_url(re.compile(r"^http://127\.0\.0\.1:9/oidc/callback\?"))
    back = {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}
    assert (back["error"], back["state"]) == ("access_denied", started["state"])


async def test_an_unknown_redirect_uri_stops_at_our_error_page(live_url, open_page, clock):
    async with httpx.AsyncClient(base_url=live_url) as web:
        site = await register_site(web, await data_bureau(clock), redirect_uri=CALLBACK)
    started = await relying_party(live_url, site).create_authorization_url(redirect_uri="https://evil.example.com/cb")
    page = await open_page()
    answer = await page.goto(started["url"])
    assert answer is not None and answer.status == 400
    await page.get_by_role("heading", name="无法登录").wait_for()
    assert page.url.startswith(live_url)
