"""The H5 page shows a joint application (一件事) as one thing: 李晓敏 applied for her newborn's four items at once;
the police rejected the household registration, saying why. On her phone she sees the bundle's one status, the
part that failed with the reason, and one timeline of every part's steps in time order, each naming its part."""

from __future__ import annotations

from tests.browser.test_h5 import SERIOUS, serious_violations, sign_in_on_page  # noqa: F401
from tests.factories import new_phone, sign_in, verify_real_name
from tests.services.applications.joint_factory import HOUSEHOLD, MOTHER_ID, apply_jointly, department_clerk, part
from tests.services.service_factory import decide


async def test_the_page_shows_one_status_the_failed_part_and_one_timeline(client, sms, clock, open_page, live_url,
                                                                           screenshots):
    phone = new_phone()
    mother = await sign_in(client, sms, phone)
    await verify_real_name(client, mother, name="李晓敏", id_number=MOTHER_ID)
    applied = await apply_jointly(client, mother)
    assert applied.status_code == 201, applied.text
    body = applied.json()
    police = await department_clerk(clock, "gd-gat")
    reason = "户口簿首页信息与身份证不一致，请上传最新户口簿"
    assert (await decide(client, police, part(body, HOUSEHOLD)["application_id"], "reject", reason)).status_code == 200

    clock.advance(120)  # a new login code for the page
    page = await open_page()
    await sign_in_on_page(page, live_url, phone)
    joint = page.get_by_role("article", name="新生儿出生一件事")
    await joint.wait_for()
    assert await page.locator("#joint").is_visible()
    assert await joint.locator(".joint-status").inner_text() == "部分事项未通过（2/4 项已通过）"
    assert await joint.locator(".joint-failed").inner_text() == f"出生登记：不予受理，{reason}"

    steps = joint.get_by_role("list", name="新生儿出生一件事 办理记录").get_by_role("listitem")
    assert await steps.count() == len(body["timeline"]) + 1  # the rejection came last
    parts = await joint.locator(".timeline-part").all_inner_texts()
    assert set(parts) == {"出生医学证明首次签发", "出生登记", "新生儿参加城乡居民医疗保险", "社会保障卡申领"}
    assert parts[-1] == "出生登记"
    assert (await steps.last.locator(".timeline-state").inner_text()) == f"不予受理（{reason}）"
    # Times in order, as the page shows them.
    times = await joint.locator(".timeline-time").evaluate_all("nodes => nodes.map(n => n.dateTime)")
    assert times == sorted(times)
    assert "秒批通过" in await joint.inner_text()
    await page.screenshot(path=str(screenshots / "h5-joint.png"), full_page=True)


async def test_a_citizen_without_joint_applications_sees_no_empty_section(open_page, live_url):
    page = await open_page()
    await sign_in_on_page(page, live_url, new_phone())
    await page.get_by_role("heading", name="实名认证").wait_for()
    assert await page.locator("#joint").is_hidden()
