"""人脸核身 through Tencent Cloud faceid (2018-03-01): `DetectAuth` starts a session (RuleId, IdCard, Name,
RedirectUrl → Url, BizToken); the person does the check on the provider's page; `GetDetectInfoEnhanced`
(BizToken, RuleId, InfoType "0") gives the result in `Text`.

`Text.ErrCode` is null until the person finished; 0 is passed, anything else the provider's failure code.
`LiveStatus` 0 is live; `Sim` ("95.00") is the similarity to the authority's photo, null when no
comparison was made. API errors map as TencentCloudClient maps them; the action's own codes
(InvalidParameterValue.BizTokenIllegal / BizTokenExpired for an unknown or old token) become
FaceSessionGone, and DetectAuth's refusals of the person (FailedOperation.IdNoExistSystem, IdFormatError,
NameFormatError, IdNameMisMatch, ...) FaceSubjectRefused.

`complete_with_sample` exists for our stand-in only (a loopback URL): it posts the capture to the
stand-in's `/_standin/faceid/{BizToken}/complete`, as the provider's page would do the check.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import httpx

from app.integrations import ProviderMisconfigured, ProviderUnavailable, is_stand_in
from app.integrations.face import FaceSession, FaceSessionGone, FaceSubjectRefused, FaceVerdict
from app.integrations.tencent_cloud import TencentCloudClient, TencentCloudError

if TYPE_CHECKING:
    from app.config import Settings

SERVICE, VERSION = "faceid", "2018-03-01"
INFO_TYPE_ALL = "0"


class TencentFace:
    """FaceProvider over Tencent Cloud 人脸核身 (DetectAuth + GetDetectInfoEnhanced)."""

    name = "tencent-faceid"

    def __init__(self, client: TencentCloudClient, *, rule_id: str) -> None:
        self._client = client
        self._rule_id = rule_id

    @classmethod
    def from_settings(cls, settings: Settings) -> TencentFace:
        client = TencentCloudClient.for_service(settings, settings.face.url, service=SERVICE, version=VERSION,
                                                timeout=settings.face.timeout)
        return cls(client, rule_id=settings.face.rule_id)

    async def start(self, name: str, id_number: str, redirect_url: str) -> FaceSession:
        try:
            response = await self._client.call("DetectAuth", {
                "RuleId": self._rule_id, "IdCard": id_number, "Name": name, "RedirectUrl": redirect_url})
        except TencentCloudError as error:
            raise _action_error(error) from None
        token, url = response.get("BizToken"), response.get("Url")
        if not isinstance(token, str) or not token or not isinstance(url, str) or not url:
            raise ProviderUnavailable("bad_reply")
        return FaceSession(biz_token=token, url=url)

    async def verdict(self, biz_token: str) -> FaceVerdict:
        try:
            response = await self._client.call("GetDetectInfoEnhanced", {
                "BizToken": biz_token, "RuleId": self._rule_id, "InfoType": INFO_TYPE_ALL})
        except TencentCloudError as error:
            raise _action_error(error) from None
        text = response.get("Text")
        if not isinstance(text, dict):
            raise ProviderUnavailable("bad_reply")
        return face_verdict(text)

    async def complete_with_sample(self, biz_token: str, sample: bytes) -> None:
        """Stand-in only: do the check with `sample` as the provider's page would."""
        if not is_stand_in(self._client.url):
            raise ProviderMisconfigured("not_a_stand_in")
        try:
            reply = await self._client.http.post(
                f"{self._client.url}/_standin/faceid/{biz_token}/complete",
                json={"sample": base64.b64encode(sample).decode()})
        except httpx.TimeoutException:
            raise ProviderUnavailable("timeout") from None
        except httpx.HTTPError:
            raise ProviderUnavailable("unreachable") from None
        if reply.status_code == 404:
            raise FaceSessionGone("InvalidParameterValue.BizTokenIllegal")
        if reply.status_code != 200:
            raise ProviderUnavailable(f"http_{reply.status_code}")

    async def close(self) -> None:
        await self._client.close()


def _action_error(error: TencentCloudError) -> Exception:
    """The action's own codes, as the domain acts on them."""
    if "BizToken" in error.code:
        return FaceSessionGone(error.code)
    if error.code.startswith(("FailedOperation.Id", "FailedOperation.Name", "InvalidParameterValue.Id",
                              "InvalidParameterValue.Name")):
        return FaceSubjectRefused(error.code)
    return error


def face_verdict(text: dict[str, Any]) -> FaceVerdict:
    """Our verdict from GetDetectInfoEnhanced's Text."""
    code = text.get("ErrCode")
    if code is None:
        return FaceVerdict(finished=False)
    return FaceVerdict(finished=True, live=text.get("LiveStatus") == 0, similarity=_similarity(text.get("Sim")),
                       id_number=text.get("IdCard") or None, name=text.get("Name") or None, code=str(code))


def _similarity(sim: Any) -> float:
    """Sim is a string such as "95.00"; absent when no comparison was made."""
    try:
        return max(0.0, min(100.0, float(sim)))
    except (TypeError, ValueError):
        return 0.0
