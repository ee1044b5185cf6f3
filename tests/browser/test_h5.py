"""The H5 page in a real (headless) browser at 390 × 844: an older citizen signs in with an SMS code,
completes 实名, sees the home cards and the health code (QR image, colour in words, seconds left),
and switches on elderly mode, which makes the type bigger, the buttons taller and the contrast
higher, and is remembered. An automated accessibility audit (axe-core) finds nothing serious."""

from __future__ import annotations

import re

import httpx
import pytest

from app.accounts.models import Citizen
from tests.browser.conftest import AXE
from tests.factories import new_phone, valid_id_number

SERIOUS = ("serious", "critical")


async def sms_code(live_url: str, phone: str) -> str:
    """The code the citizen got, read from the dev SMS outbox as the other tests do."""
    async with httpx.AsyncClient(base_url=live_url) as web:
        outbox = (await web.get("/dev/sms-outbox", params={"phone": phone})).json()["items"]
    return next(m.group(1) for item in outbox if (m := re.search(r"验证码为 (\d{6})", item["text"])))  # newest first


async def sign_in_on_page(page, live_url: str, phone: str) -> None:
    await page.goto(f"{live_url}/h5/")
    await page.get_by_label("手机号码").fill(phone)
    await page.get_by_role("button", name="获取验证码").click()
    await page.get_by_text("验证码已发送").wait_for()
    await page.get_by_label("短信验证码").fill(await sms_code(live_url, phone))
    await page.get_by_role("button", name="登录", exact=True).click()


async def verify_on_page(page, name: str = "陈秀英", id_number: str | None = None) -> None:
    await page.get_by_role("heading", name="实名认证").wait_for()
    await page.get_by_label("姓名").fill(name)
    await page.get_by_label("身份证号码").fill(id_number or valid_id_number(birth="19560214"))
    await page.get_by_role("button", name="提交认证").click()
    await page.locator("#code-colour", has_text="绿码").wait_for()
    await page.wait_for_function("document.getElementById('code-image').naturalWidth > 0")


async def style(page, selector: str, prop: str) -> float:
    value = await page.eval_on_selector(selector, f"e => getComputedStyle(e).getPropertyValue('{prop}')")
    return float(value.removesuffix("px"))


async def height(page, selector: str) -> float:
    return (await page.locator(selector).bounding_box())["height"]


async def serious_violations(page) -> list[str]:
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate("""async () => await axe.run(document, {
        runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}})""")
    return [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']]}"
            for v in result["violations"] if v["impact"] in SERIOUS]


async def assert_health_code_and_home_cards_shown(page) -> None:
    """The health code: a drawn QR image, the colour in words, the seconds it has left; then the home cards,
    health code first, in two columns of normal type."""
    assert await page.locator("#code-image").get_attribute("src") != ""
    assert (await page.locator("#code-image").get_attribute("src")).startswith("blob:")
    assert await page.eval_on_selector("#code-image", "e => e.naturalWidth") >= 200
    assert await page.locator("#code-colour").inner_text() == "绿码"
    assert 0 < int(await page.locator("#code-seconds").inner_text()) <= 180
    assert "未发现风险" in await page.locator("#code-reasons").inner_text()
    titles = await page.locator("#cards h3").all_inner_texts()
    assert titles[0] == "健康码" and len(titles) >= 3
    assert await style(page, "body", "font-size") == 16
    assert await page.locator("#cards").evaluate("e => getComputedStyle(e).gridTemplateColumns.split(' ').length") == 2


async def assert_elderly_mode_shown(page) -> None:
    """长辈模式: bigger type, taller buttons, black on white, one column. The sizes follow the service's preset
    (GET /api/v1/elderly/preset), never below the page's floors."""
    assert await page.get_by_role("switch").get_attribute("aria-checked") == "true"
    await page.wait_for_function("() => document.documentElement.style.getPropertyValue('--elder-touch') !== ''")
    assert await page.evaluate("() => document.documentElement.style.getPropertyValue('--elder-touch')") == "64px"
    assert await style(page, "body", "font-size") >= 18
    assert await style(page, "#code-title", "font-size") >= 30
    for button in ("#elderly-switch", "#code-refresh", "#logout"):
        assert await height(page, button) >= 60, button
    assert await page.locator("#cards").evaluate("e => getComputedStyle(e).gridTemplateColumns.split(' ').length") == 1
    assert await page.eval_on_selector("body", "e => getComputedStyle(e).color") == "rgb(0, 0, 0)"
    assert await page.eval_on_selector(".card", "e => getComputedStyle(e).borderTopWidth") == "3px"


async def test_sign_in_and_show_the_health_code_then_switch_on_elderly_mode(app, open_page, live_url, screenshots):
    page = await open_page()
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    phone = new_phone()
    await sign_in_on_page(page, live_url, phone)
    await verify_on_page(page)

    await assert_health_code_and_home_cards_shown(page)
    await page.screenshot(path=str(screenshots / "h5-normal.png"))

    # 长辈模式, stored for this citizen.
    await page.get_by_role("switch", name=re.compile("长辈模式")).click()
    await page.locator("body.elderly").wait_for()
    await assert_elderly_mode_shown(page)
    await page.get_by_text("已开启长辈模式").wait_for()
    await page.evaluate("window.scrollTo(0, 0)")
    await page.screenshot(path=str(screenshots / "h5-elderly.png"))
    citizen = await Citizen.get(phone_hash=app.ctx.services.platform.pii.lookup_hash(phone, "phone"))
    assert citizen.elderly_mode is True

    # Nothing came from anywhere but our own origin.
    assert requested and all(u.startswith(live_url) or u.startswith("blob:") for u in requested), requested


async def test_elderly_mode_is_remembered_at_the_next_sign_in(open_page, live_url, clock):
    page = await open_page()
    phone = new_phone()
    await sign_in_on_page(page, live_url, phone)
    await verify_on_page(page)
    await page.get_by_role("switch", name=re.compile("长辈模式")).click()
    await page.locator("body.elderly").wait_for()
    await page.get_by_role("button", name="退出登录").click()
    await page.get_by_role("heading", name="手机号登录").wait_for()
    assert await page.locator("body.elderly").count() == 0  # signed out: the page is neutral again

    # Another browser, the next day: a wrong code first (the error envelope's own words), then the right one.
    clock.advance(days=1)
    again = await open_page()
    await again.goto(f"{live_url}/h5/")
    await again.get_by_label("手机号码").fill(phone)
    await again.get_by_role("button", name="获取验证码").click()
    await again.get_by_text("验证码已发送").wait_for()
    await again.get_by_label("短信验证码").fill("000000")
    await again.get_by_role("button", name="登录", exact=True).click()
    await again.get_by_text("验证码不正确，还可尝试 4 次。").wait_for()
    await again.get_by_label("短信验证码").fill(await sms_code(live_url, phone))
    await again.get_by_role("button", name="登录", exact=True).click()
    await again.locator("#code-colour", has_text="绿码").wait_for()
    assert await again.locator("body.elderly").count() == 1
    assert await again.get_by_role("switch").get_attribute("aria-checked") == "true"


@pytest.mark.skipif(not AXE.exists(), reason=f"axe-core not fetched ({AXE}): run make browser-deps")
async def test_no_serious_accessibility_violations_in_either_mode(open_page, live_url):
    page = await open_page(bypass_csp=True)  # axe is injected as a script the page's own CSP would refuse
    await page.goto(f"{live_url}/h5/")
    assert await serious_violations(page) == []  # the sign-in form
    await sign_in_on_page(page, live_url, new_phone())
    await verify_on_page(page)
    assert await serious_violations(page) == []
    await page.get_by_role("switch", name=re.compile("长辈模式")).click()
    await page.locator("body.elderly").wait_for()
    assert await serious_violations(page) == []


async def test_the_page_refuses_scripts_from_anywhere_else(open_page, live_url):
    page = await open_page()
    await page.goto(f"{live_url}/h5/")
    with pytest.raises(Exception):
        await page.add_script_tag(content="window.injected = true")
    assert await page.evaluate("window.injected === undefined")
