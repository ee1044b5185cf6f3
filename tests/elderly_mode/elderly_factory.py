"""Factories for the elderly-mode stories: an elder in elderly mode, a family member, a confirmed link.

Sample people (示例): 陈桂英, born 1948 in Guangzhou, and her son 李建国, born 1975. Made up, checksums valid.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from standins.tencent_cloud.control import TencentStandIn
from tests.factories import SignedInCitizen, sign_in, valid_id_number, verify_real_name

ELDER_ID = valid_id_number(region="440104", birth="19480315", sequence="286")
SON_ID = valid_id_number(region="440106", birth="19750821", sequence="113")
STRANGER_ID = valid_id_number(region="440111", birth="19880102", sequence="457")
LINKS = "/api/v1/family/links"
ACCESS_LOG = "/api/v1/me/access-log"


async def elder(client: httpx.AsyncClient, sms: TencentStandIn, *, elderly: bool = True,
                name: str = "陈桂英", id_number: str = ELDER_ID) -> SignedInCitizen:
    citizen = await sign_in(client, sms, device="老人机")
    await verify_real_name(client, citizen, name=name, id_number=id_number)
    if elderly:
        reply = await client.put("/api/v1/me/preferences", headers=citizen.headers, json={"elderly_mode": True})
        assert reply.status_code == 200 and reply.json() == {"elderly_mode": True}, reply.text
    return citizen


async def family_member(client: httpx.AsyncClient, sms: TencentStandIn, *, name: str = "李建国",
                        id_number: str = SON_ID) -> SignedInCitizen:
    citizen = await sign_in(client, sms, device="儿子的手机")
    await verify_real_name(client, citizen, name=name, id_number=id_number)
    return citizen


def consent_code(sms: TencentStandIn, phone: str) -> str:
    match = re.search(r"确认码 (\d{6})", sms.outbox(phone)[0].text)
    assert match, "no confirmation code in the principal's SMS"
    return match.group(1)


async def ask_link(client: httpx.AsyncClient, proxy: SignedInCitizen, principal: SignedInCitizen,
                   relation: str = "child") -> dict[str, Any]:
    reply = await client.post(LINKS, headers=proxy.headers,
                              json={"basis": "sms", "relation": relation, "principal_phone": principal.phone})
    assert reply.status_code == 201, reply.text
    return reply.json()


async def linked(client: httpx.AsyncClient, sms: TencentStandIn, proxy: SignedInCitizen,
                 principal: SignedInCitizen) -> str:
    """The son asks, the elder reads him the code from her SMS, he enters it: the link id."""
    asked = await ask_link(client, proxy, principal)
    link_id = asked["link"]["id"]
    confirmed = await client.post(f"{LINKS}/{link_id}/confirmation", headers=proxy.headers,
                                  json={"code": consent_code(sms, principal.phone)})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["link"]["status"] == "active"
    return link_id
