"""Factories for the identity-document tests: a document posted as the citizen types it, a sample number of the
resident ID's form with a valid check character, and a passport's machine-readable zone (ICAO 9303 TD3)."""

from __future__ import annotations

from datetime import date

import httpx

from app.accounts import documents as d
from tests.factories import SignedInCitizen

IDENTITY = "/api/v1/me/identity"
EN = {"Accept-Language": "en"}


async def post(client: httpx.AsyncClient, citizen: SignedInCitizen, name: str, number: str, **more) -> httpx.Response:
    """The citizen binds (or declares) a document: its type, and any nationality, renewal count or zone, in `more`."""
    return await client.post(IDENTITY, headers={**citizen.headers, **EN}, json={"name": name, "id_number": number,
                                                                              **more})


def gb11643_number(region: str, birth: str, sequence: str) -> str:
    """A number of the resident ID's form (a 居住证 with region 810000, 820000 or 830000), birth date yyyymmdd."""
    first17 = region + birth + sequence
    return first17 + d.gb11643_check_char(first17)


def td3(number: str, nationality: str, born: date) -> str:
    field, birth, expiry, optional = number.ljust(9, "<"), born.strftime("%y%m%d"), "310531", "<" * 14
    line2 = field + d.icao_check_digit(field) + nationality + birth + d.icao_check_digit(birth) + "M" + expiry \
        + d.icao_check_digit(expiry) + optional + d.icao_check_digit(optional)
    line2 += d.icao_check_digit(line2[0:10] + line2[13:20] + line2[21:43])
    return ("P<" + nationality + "SAMPLE<<SHIYONG").ljust(44, "<") + "\n" + line2
