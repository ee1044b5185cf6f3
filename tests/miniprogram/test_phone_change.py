"""A changed phone number (更换手机号) ends the citizen's mini-program bindings: each was verified with the
old number, so the WeChat user signs in again only by proving the new one."""

from __future__ import annotations


from app.audit import AuditEntry
from app.miniprogram.models import MiniProgramBinding
from tests.accounts.test_phone_change import change_code
from tests.factories import new_phone, sign_in



async def test_a_phone_change_ends_the_binding_and_the_new_number_binds_again(mp, client, sms, clock):
    citizen = await sign_in(client, sms)
    await mp.login()
    assert (await mp.bind_phone(citizen.phone))["citizen"]["id"] == citizen.id
    clock.advance(61)

    phone = new_phone()
    sent = await client.post("/api/v1/me/phone/codes", headers=citizen.headers, json={"new_phone": phone, "via": "old_phone"})
    assert sent.status_code == 202, sent.text
    changed = await client.post("/api/v1/me/phone", headers=citizen.headers, json={
        "new_phone": phone, "new_code": change_code(sms, phone), "old_code": change_code(sms, citizen.phone)})
    assert changed.status_code == 200, changed.text

    # The mini-program's own session is signed out with the other devices, and the openid no longer signs in.
    assert (await client.get("/api/mp/v1/me", headers=mp.headers)).status_code == 401
    assert not await MiniProgramBinding.filter(citizen_id=citizen.id).exists()
    mp.token = None
    again = await mp.login()
    assert again["bound"] is False and again["bind_ticket"]
    (entry,) = await AuditEntry.filter(action="mini_program_unbound", subject_id=citizen.id)
    assert entry.attributes == {"bindings": 1, "reason": "phone_changed"}

    # Proving the new number binds the same WeChat user to the same account again.
    assert (await mp.bind_phone(phone))["citizen"]["id"] == citizen.id
