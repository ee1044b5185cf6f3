"""A scripted mini-program front-end: plays a user's journey through `/api/mp/v1/` the way a
mini-program would, with the stand-in platform playing the phone's runtime (wx.login,
getPhoneNumber, wx.requestSubscribeMessage).

    python -m miniprogram_mock.client --demo [--api http://127.0.0.1:8000] [--platform http://127.0.0.1:8200]

The demo: login → phone binding → 实名 → home → health code → book an appointment (the first free
slot of a sample item in the next 14 days; `make run` publishes sample slots in dev). Tests use
`MiniProgramClient` with their own httpx clients.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx

SAMPLE_ITEM = "gd-gat-001"  # 居民身份证换领 (sample catalogue)
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


class JourneyError(RuntimeError):
    """A step answered otherwise than a front-end expects; carries the step, status and error code."""

    def __init__(self, step: str, reply: httpx.Response) -> None:
        try:
            self.code = reply.json().get("error", {}).get("code")
        except ValueError:
            self.code = None
        self.step, self.status = step, reply.status_code
        super().__init__(f"{step}: HTTP {reply.status_code} {self.code or reply.text[:120]}")


def sample_id_number(birth: str = "19560214") -> str:
    """A made-up resident ID number with a valid GB 11643 check character (sample data, nobody's)."""
    first17 = "440106" + birth + f"{secrets.randbelow(1000):03d}"
    return first17 + "10X98765432"[sum(int(c) * w for c, w in zip(first17, _WEIGHTS)) % 11]


@dataclass
class MiniProgramClient:
    api: httpx.AsyncClient  # our backend
    platform: httpx.AsyncClient  # the mini-program platform (stand-in), as the phone's runtime reaches it
    user: str = field(default_factory=lambda: f"微信用户{secrets.token_hex(4)}")
    token: str | None = None
    bind_ticket: str | None = None
    openid: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def _expect(self, step: str, reply: httpx.Response, *statuses: int) -> Any:
        if reply.status_code not in (statuses or (200,)):
            raise JourneyError(step, reply)
        return reply.json() if reply.content else None

    # -- what the phone's runtime does ------------------------------------------------------------
    async def wx_login(self) -> str:
        answer = await self._expect("wx.login", await self.platform.post("/mock/wx-login", json={"user": self.user}))
        self.openid = answer["openid"]
        return answer["code"]

    # -- sign-in -------------------------------------------------------------------------------------
    async def login(self, code: str | None = None) -> dict[str, Any]:
        body = await self._expect("login", await self.api.post("/api/mp/v1/auth/login",
                                                               json={"code": code or await self.wx_login()}))
        if body["bound"]:
            self.token = body["access_token"]
        else:
            self.bind_ticket = body["bind_ticket"]
        return body

    async def bind_phone(self, phone: str, **watermark: Any) -> dict[str, Any]:
        """getPhoneNumber (the platform encrypts the number with this login's session key), then bind."""
        shared = await self._expect("getPhoneNumber", await self.platform.post(
            "/mock/phone-number", json={"user": self.user, "phone": phone, **watermark}))
        body = await self._expect("bind phone", await self.api.post("/api/mp/v1/auth/phone", json={
            "bind_ticket": self.bind_ticket, "encrypted_data": shared["encryptedData"], "iv": shared["iv"]}))
        self.token = body["access_token"]
        return body

    async def bind_with_sms(self, phone: str, read_code: Any) -> dict[str, Any]:
        """The SMS way: ask for a code, read it (the user reads their phone), bind."""
        await self._expect("sms code", await self.api.post("/api/mp/v1/auth/sms-code", json={
            "bind_ticket": self.bind_ticket, "phone": phone}), 202)
        code = await read_code(phone)
        body = await self._expect("bind sms", await self.api.post("/api/mp/v1/auth/sms", json={
            "bind_ticket": self.bind_ticket, "phone": phone, "code": code}))
        self.token = body["access_token"]
        return body

    # -- the citizen functions ---------------------------------------------------------------------
    async def get(self, path: str, step: str | None = None, **params: str) -> Any:
        return await self._expect(step or path, await self.api.get(f"/api/mp/v1{path}", params=params or None,
                                                                   headers=self.headers))

    async def post(self, path: str, body: Any, *statuses: int) -> Any:
        return await self._expect(path, await self.api.post(f"/api/mp/v1{path}", json=body, headers=self.headers),
                                  *(statuses or (200,)))

    async def verify_identity(self, name: str, id_number: str) -> dict[str, Any]:
        return await self.post("/me/identity", {"name": name, "id_number": id_number})

    async def subscribe(self, *topics: str) -> dict[str, Any]:
        """wx.requestSubscribeMessage for our templates (the user accepts), then tell our backend."""
        templates = (await self.get("/subscriptions"))["templates"]
        await self._expect("requestSubscribeMessage", await self.platform.post("/mock/subscribe", json={
            "user": self.user, "template_ids": [templates[t] for t in topics]}))
        return await self.post("/subscriptions", {"answers": {t: "accept" for t in topics}})

    async def first_free_slot(self, item_id: str, start: date, days: int = 14) -> dict[str, Any] | None:
        for offset in range(days):
            day = (start + timedelta(days=offset)).isoformat()
            for slot in (await self.get("/appointment-slots", item_id=item_id, day=day))["items"]:
                if slot["free"] > 0:
                    return slot
        return None

    async def book(self, slot_id: str) -> dict[str, Any]:
        return await self.post("/appointments", {"slot_id": slot_id}, 201)


@dataclass
class Journey:
    """What each step of the demo showed the user."""

    steps: list[tuple[str, str]] = field(default_factory=list)

    def say(self, step: str, text: str) -> None:
        self.steps.append((step, text))
        print(f"[{len(self.steps)}] {step}: {text}", flush=True)


async def play_journey(mp: MiniProgramClient, phone: str, name: str, id_number: str, item_id: str,
                       start: date, journey: Journey | None = None) -> Journey:
    """login → phone binding → 实名 → home → health code → book an appointment (steps recorded in `journey`)."""
    journey = journey if journey is not None else Journey()
    first = await mp.login()
    journey.say("登录", "已绑定，直接登录" if first["bound"] else f"新用户，请验证手机号（{first['expires_in']} 秒内）")
    if not first["bound"]:
        bound = await mp.bind_phone(phone)
        journey.say("绑定手机号", f"已绑定，账号 {bound['citizen']['id']}，认证等级 {bound['citizen']['level']}")
    me = await mp.get("/me")
    if me["level"] < 2:
        level = (await mp.verify_identity(name, id_number))["level"]
        journey.say("实名认证", f"完成，认证等级 {level}")
    home = await mp.get("/home")
    journey.say("首页", "；".join(f"{c['title']}：{c['summary']}" for c in home["cards"]) or "（无卡片）")
    code = await mp.get("/health-code")
    journey.say("健康码", f"{code['text']}，{code['seconds_left']} 秒后刷新，码长 {len(code['payload'])}")
    slot = await mp.first_free_slot(item_id, start)
    if slot is None:
        raise RuntimeError(f"no free slot for {item_id} in the next 14 days: publish one first")
    booked = await mp.book(slot["id"])
    journey.say("预约", f"已预约 {booked['starts_at']} 在{booked['office']}办理“{booked['item']}”")
    return journey


async def demo(api_url: str, platform_url: str, phone: str | None, item_id: str) -> int:
    phone = phone or f"137{secrets.randbelow(10**8):08d}"
    async with httpx.AsyncClient(base_url=api_url, timeout=15) as api, \
            httpx.AsyncClient(base_url=platform_url, timeout=15) as platform:
        mp = MiniProgramClient(api, platform)
        try:
            await play_journey(mp, phone, "陈秀英", sample_id_number(), item_id, date.today() + timedelta(days=1))
        except (JourneyError, RuntimeError, httpx.TransportError) as exc:
            print(f"journey stopped: {exc}", file=sys.stderr)
            return 1
    print("journey complete", flush=True)
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m miniprogram_mock.client", description=__doc__.splitlines()[0])
    parser.add_argument("--demo", action="store_true", help="play the whole journey once")
    parser.add_argument("--api", default="http://127.0.0.1:8000", help="our backend")
    parser.add_argument("--platform", default="http://127.0.0.1:8200", help="the stand-in mini-program platform")
    parser.add_argument("--phone", help="the phone number to bind (default: a random sample number)")
    parser.add_argument("--item-id", default=SAMPLE_ITEM, help="the catalogue item to book")
    args = parser.parse_args(argv)
    if not args.demo:
        parser.print_help()
        raise SystemExit(2)
    raise SystemExit(asyncio.run(demo(args.api, args.platform, args.phone, args.item_id)))


if __name__ == "__main__":
    main()
