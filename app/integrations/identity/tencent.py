"""The identity authority's name + ID-number check through Tencent Cloud `IdCardVerification` (faceid
2018-03-01): `{"IdCard", "Name"}` → `{"Result", "Description"}`.

Result codes as published: "0" match, "-1" mismatch, "-2" invalid ID number, "-3" invalid name, "-5" no
record; "-4" (证件库服务异常) and "-6" (权威比对系统升级中) are ProviderUnavailable("result_-4"/"result_-6"),
"-7" (认证次数超过当日限制) is ProviderThrottled("result_-7", one hour: the provider names no time).
An unknown Result is ProviderUnavailable("result_<code>"); API errors map as TencentCloudClient maps them.

IdCardVerification checks 18-character numbers of the GB 11643 form: the resident ID, the 港澳台居民居住证 (region
810000/820000/830000) and the 2023 外国人永久居留身份证 (first digit 9), all in one national register. Any other
document is ProviderUnavailable("document_not_covered"), and is not sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.integrations import ProviderThrottled, ProviderUnavailable
from app.integrations.identity import (INVALID_ID_NUMBER, INVALID_NAME, MATCH, MISMATCH, NO_RECORD,
                                       IdentityVerdict)
from app.integrations.tencent_cloud import TencentCloudClient

if TYPE_CHECKING:
    from app.config import Settings

SERVICE, VERSION = "faceid", "2018-03-01"
OUTCOMES = {"0": MATCH, "-1": MISMATCH, "-2": INVALID_ID_NUMBER, "-3": INVALID_NAME, "-5": NO_RECORD}
THROTTLED = "-7"
COVERED = frozenset({"resident_id", "residence_permit", "permanent_residence"})
DAILY_LIMIT_RETRY = 3600


class TencentIdentity:
    """IdentityAuthority over Tencent Cloud 二要素 (IdCardVerification)."""

    def __init__(self, client: TencentCloudClient) -> None:
        self._client = client

    @classmethod
    def from_settings(cls, settings: Settings) -> TencentIdentity:
        return cls(TencentCloudClient.for_service(settings, settings.identity.url, service=SERVICE, version=VERSION,
                                                  timeout=settings.identity.timeout))

    async def check(self, name: str, id_number: str, document_type: str = "resident_id") -> IdentityVerdict:
        if document_type not in COVERED or len(id_number) != 18:
            raise ProviderUnavailable("document_not_covered")
        response = await self._client.call("IdCardVerification", {"IdCard": id_number, "Name": name})
        return verdict(str(response.get("Result", "")))

    async def close(self) -> None:
        await self._client.close()


def verdict(result: str) -> IdentityVerdict:
    """The verdict for one published Result code, or the provider error it stands for."""
    if result in OUTCOMES:
        return IdentityVerdict(OUTCOMES[result])
    if result == THROTTLED:
        raise ProviderThrottled(f"result_{result}", retry_after=DAILY_LIMIT_RETRY)
    raise ProviderUnavailable(f"result_{result or 'missing'}")  # "-4", "-6", or a code the docs do not name
