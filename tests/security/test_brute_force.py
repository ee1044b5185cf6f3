"""Guessing is stopped by limits: a login code (6 digits) and an ID-voucher QR token.

A login code allows 5 wrong tries, then it is locked; a new code can be asked for once a minute
and 10 times a day, so one phone gives a guesser at most 50 tries a day out of a million codes.
One address trying many phones meets the per-address login limit. A relying party sending invalid
voucher tokens is stopped after APP_VOUCHER_INVALID_TOKENS_PER_MINUTE, and past that limit even a
right token is not looked at (no oracle), until the minute is over.
"""

from __future__ import annotations

from datetime import datetime, timezone

import base45

from tests.factories import last_code, new_phone
from tests.vouchers.voucher_factory import redeem, relying_party, shown_token, voucher_holder


def other_than(code: str, n: int) -> str:
    return f"{(int(code) + 1 + n) % 10**6:06d}"


async def test_a_login_code_is_locked_after_five_wrong_tries_and_then_even_the_right_one_fails(client, sms, settings):
    phone = new_phone()
    await client.post("/api/v1/auth/otp", json={"phone": phone})
    code = last_code(sms, phone)
    replies = [await client.post("/api/v1/auth/login", json={"phone": phone, "code": other_than(code, n)})
               for n in range(settings.accounts.otp_max_tries)]
    assert [r.status_code for r in replies[:-1]] == [401] * (settings.accounts.otp_max_tries - 1)
    assert replies[-1].status_code == 429 and replies[-1].json()["error"]["code"] == "OTP_LOCKED"
    right = await client.post("/api/v1/auth/login", json={"phone": phone, "code": code})
    assert right.status_code == 429 and right.json()["error"]["code"] == "OTP_LOCKED"


def start_of_a_window(clock, seconds: int) -> None:
    """Fixed-window limits start again at every multiple of their window: begin a test at one."""
    clock.set(datetime.fromtimestamp((clock.timestamp() // seconds + 1) * seconds + 1, tz=timezone.utc))


async def test_a_day_of_guessing_one_phone_gives_at_most_fifty_tries(client, sms, clock, settings):
    start_of_a_window(clock, 86400)  # the limit counts per clock day and the test moves the clock on
    phone = new_phone()
    tries = 0
    for _ in range(settings.accounts.otp_daily_limit):
        sent = await client.post("/api/v1/auth/otp", json={"phone": phone})
        assert sent.status_code == 202, sent.text
        code = sms.outbox(phone)[0].text
        for n in range(settings.accounts.otp_max_tries + 2):
            reply = await client.post("/api/v1/auth/login", json={"phone": phone, "code": f"{n:06d}"})
            if reply.status_code == 200:
                raise AssertionError("a guess went through")  # pragma: no cover (the real code is never 00000n here)
            tries += reply.status_code == 401 or reply.json()["error"]["code"] == "OTP_INVALID"
        clock.advance(settings.accounts.otp_resend_interval + 1)
        assert code
    refused = await client.post("/api/v1/auth/otp", json={"phone": phone})
    assert refused.status_code == 429 and "retry-after" in refused.headers
    assert tries <= settings.accounts.otp_daily_limit * settings.accounts.otp_max_tries


async def test_one_address_guessing_across_many_phones_is_stopped(client, settings):
    replies = [await client.post("/api/v1/auth/login", json={"phone": new_phone(), "code": "123456"})
               for _ in range(settings.accounts.login_ip_hourly_limit + 1)]
    assert {r.status_code for r in replies[:-1]} == {401}
    assert replies[-1].status_code == 429 and replies[-1].json()["error"]["code"] == "RATE_LIMITED"
    assert int(replies[-1].headers["retry-after"]) > 0


async def test_guessing_voucher_tokens_is_stopped_and_the_limit_gives_no_oracle(client, sms, clock, settings):
    start_of_a_window(clock, 60)  # the limit counts per clock minute, and the test clock ticks
    holder = await voucher_holder(client, sms, name="张三", sequence="623")
    hotel = await relying_party(clock, "示例大酒店前台", ["is_holder", "name_masked"])
    genuine = (await shown_token(client, holder, clock))["token"]
    limit = settings.vouchers.invalid_tokens_per_minute
    for n in range(limit):
        guess = "GDID1:" + base45.b45encode(n.to_bytes(4, "big") * 20).decode()
        reply = await redeem(client, hotel, guess, ["is_holder"])
        assert reply.status_code == 422, reply.text
    stopped = await redeem(client, hotel, genuine, ["is_holder"])  # right, but asked while locked out
    assert stopped.status_code == 429 and stopped.json()["error"]["code"] == "RATE_LIMITED"
    assert 0 < int(stopped.headers["retry-after"]) <= 61
    clock.advance(61)
    reply = await redeem(client, hotel, genuine, ["is_holder"])
    assert reply.status_code == 200, reply.text  # not used up by the refused attempt
    other = await relying_party(clock, "另一家酒店", ["is_holder"])
    assert (await redeem(client, other, "GDID1:XX", ["is_holder"])).status_code == 422  # limits are per party
