"""One-time codes (验证码), the one implementation behind login codes and family consent codes."""

from __future__ import annotations

import asyncio

import pytest

from app.errors import AppError
from app.security.one_time_codes import CodeErrors, OneTimeCodes, new_code

LAPSED = CodeErrors(lapsed=lambda: AppError("TEST_CODE_LAPSED", status=410), wrong="TEST_CODE_WRONG")


@pytest.fixture
def codes(platform) -> OneTimeCodes:
    return OneTimeCodes(platform.cache, platform.pii, platform.clock, prefix="test-otc:", purpose="test", max_tries=3,
                        errors=LAPSED)


async def kept(codes: OneTimeCodes, key: str = "test-otc:k1", valid_for: float = 300) -> str:
    code = new_code()
    await codes.keep(key, code, expires_at=codes.clock.timestamp() + valid_for, keep_for=valid_for + 60)
    return code


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


async def test_the_code_is_not_kept_in_clear_and_is_used_once(codes):
    code = await kept(codes)
    assert code not in str(await codes.cache.get("test-otc:k1"))
    await codes.use("test-otc:k1", code, ttl=360)
    with pytest.raises(AppError) as again:
        await codes.use("test-otc:k1", code, ttl=360)
    assert again.value.code == "TEST_CODE_LAPSED"


async def test_wrong_tries_say_how_many_are_left_then_the_code_locks(codes):
    code = await kept(codes)
    for left in (2, 1):
        with pytest.raises(AppError) as tried:
            await codes.use("test-otc:k1", wrong(code), ttl=360)
        assert (tried.value.code, tried.value.status, tried.value.extra["tries_left"]) == ("TEST_CODE_WRONG", 401, left)
    with pytest.raises(AppError) as locked:
        await codes.use("test-otc:k1", wrong(code), ttl=360)
    assert (locked.value.code, locked.value.status) == ("OTP_LOCKED", 429)
    with pytest.raises(AppError) as even_right:
        await codes.use("test-otc:k1", code, ttl=360)
    assert even_right.value.code == "OTP_LOCKED"


async def test_a_code_past_its_expiry_is_refused(codes, clock):
    code = await kept(codes, valid_for=60)
    clock.advance(61)
    with pytest.raises(AppError) as late:
        await codes.use("test-otc:k1", code, ttl=360)
    assert late.value.code == "TEST_CODE_LAPSED"


async def test_two_requests_racing_with_one_code_let_one_through(codes):
    code = await kept(codes)
    # As many as the tries allowed (3), so that none is refused for the count rather than the use.
    results = await asyncio.gather(*(codes.use("test-otc:k1", code, ttl=360) for _ in range(3)), return_exceptions=True)
    assert sum(r is None for r in results) == 1
    assert {r.code for r in results if r is not None} == {"TEST_CODE_LAPSED"}
