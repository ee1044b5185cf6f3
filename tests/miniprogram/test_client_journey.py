"""The scripted mini-program front-end plays a user's whole journey: login → phone binding → 实名 →
home → health code → book an appointment. Once in-process, and once as a person would run it by
hand (`python -m miniprogram_mock.client --demo`) against our app served on a real port and the
stand-in platform, three processes talking HTTP."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import date, datetime, time, timedelta, timezone

import pytest

from app.clock import CHINA_TZ, MovableClock
from app.services.appointments.models import Appointment, AppointmentSlot
from app.services.catalogue.models import Department, ServiceItem
from miniprogram_mock.client import SAMPLE_ITEM, Journey, JourneyError, play_journey, sample_id_number
from tests.factories import make_department, new_phone
from tests.health_code.interop.partner_process import REPO_ROOT, serve_live
from tests.miniprogram.platform_process import PlatformProcess

OFFICE = "越秀区政务服务中心 5 号窗口（示例）"


async def slot_tomorrow(client, clock, item_id: str = SAMPLE_ITEM) -> dict:
    if not await ServiceItem.exists(id=item_id):  # the sample catalogue has it; a bare test database may not
        department, _ = await Department.get_or_create(id="gd-gat", defaults={
            "name": "广东省公安厅（示例）", "region_level": "province", "region_code": "440000"})
        await ServiceItem.create(id=item_id, name="居民身份证换领", department=department, region_level="province",
                                 region_code="440000", category="户籍", status="published", created_at=clock.now(),
                                 updated_at=clock.now())
    office = await make_department(clock, "越秀区政务服务中心（示例）", ["office"])
    tomorrow = datetime.now(CHINA_TZ).date() + timedelta(days=1)
    starts = datetime.combine(tomorrow, time(10, 0), CHINA_TZ).astimezone(timezone.utc)
    reply = await client.post("/api/admin/v1/appointment-slots", headers=office.headers(), json={
        "item_id": item_id, "office": OFFICE, "starts_at": starts.isoformat().replace("+00:00", "Z"),
        "ends_at": (starts + timedelta(minutes=30)).isoformat().replace("+00:00", "Z"), "capacity": 3})
    assert reply.status_code == 201, reply.text
    return reply.json()


async def test_the_scripted_client_completes_the_journey(mp, client, clock):
    slot = await slot_tomorrow(client, clock)
    journey = await play_journey(mp, new_phone(), "陈秀英", sample_id_number(), SAMPLE_ITEM,
                                 datetime.now(CHINA_TZ).date() + timedelta(days=1))

    assert [step for step, _ in journey.steps] == ["登录", "绑定手机号", "实名认证", "首页", "健康码", "预约"]
    assert journey.steps[4][1].startswith("绿码")
    assert OFFICE in journey.steps[5][1] and "居民身份证换领" in journey.steps[5][1]
    (booked,) = await Appointment.filter(slot_id=slot["id"])
    assert booked.status == "booked"
    assert (await AppointmentSlot.get(id=slot["id"])).booked == 1
    (mine,) = (await mp.get("/appointments"))["items"]
    assert (mine["office"], mine["status"]) == (OFFICE, "booked")

    # The inbox of the compact API has the booking confirmation, in the reader's language.
    messages = (await mp.get("/notifications"))["items"]
    assert messages[0]["title"] == "预约成功" and "居民身份证换领" in messages[0]["body"]

    # A second run of the same WeChat user signs straight in, skips binding and 实名, and may not
    # book the same service twice on one day.
    mp.token = None
    again = Journey()
    with pytest.raises(JourneyError) as refused:
        await play_journey(mp, "13700000000", "陈秀英", sample_id_number(), SAMPLE_ITEM,
                           datetime.now(CHINA_TZ).date() + timedelta(days=1), again)
    assert [step for step, _ in again.steps] == ["登录", "首页", "健康码"] and again.steps[0][1] == "已绑定，直接登录"
    assert (refused.value.step, refused.value.status, refused.value.code) == ("/appointments", 409, "ALREADY_BOOKED")


async def test_the_journey_without_a_free_slot_says_so(mp, client, clock):
    with pytest.raises(RuntimeError, match="no free slot"):
        await play_journey(mp, new_phone(), "陈秀英", sample_id_number(), "no-such-item", date.today())


async def test_the_demo_runs_by_hand_against_real_processes(app, client, clock: MovableClock,
                                                            mini_program_platform: PlatformProcess):
    clock.set(datetime.now(timezone.utc))  # the demo and the platform read the wall clock
    await slot_tomorrow(client, clock)
    async with serve_live(app) as url:
        demo = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "miniprogram_mock.client", "--demo", "--api", url, "--platform",
            mini_program_platform.url, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out, _ = await asyncio.wait_for(demo.communicate(), timeout=60)
    text = out.decode()
    assert demo.returncode == 0, text
    assert "journey complete" in text and "[6] 预约: 已预约" in text and OFFICE in text
    assert await Appointment.filter(status="booked").count() == 1


def test_the_client_without_demo_prints_help():
    done = subprocess.run([sys.executable, "-m", "miniprogram_mock.client"], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 2 and "--demo" in done.stdout
