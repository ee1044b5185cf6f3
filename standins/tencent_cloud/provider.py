"""What the stand-in Tencent Cloud remembers and how each API action answers (no HTTP here).

Each action takes the request's parameters and returns the `Response` fields, or raises `ApiError`
with the provider's error code. Choices where the provider's documents are silent:

- "enrol" (a standing setting, not a fault): IdCardVerification and DetectAuth take a valid ID number
  they have never seen as the holder's under the first name asked for it (tests then state only the
  people they dispute). It lasts until reset, past the faults of single calls.
- IdCardVerification and DetectAuth take any 18-character number of the resident ID's form (居民身份证,
  港澳台居民居住证, 2023 外国人永久居留身份证: one register), and a name in Han characters or, for a foreigner, in
  the card's upper-case Latin letters.
- SendSms enforces no frequency limits of its own (our service has its own); `throttle` forces one.
- DetectAuth refuses an ID number the registry does not hold with FailedOperation.IdNoExistSystem
  (库中无此号), a name that is not the holder's with FailedOperation.IdNameMisMatch, a malformed ID
  number or name with FailedOperation.IdFormatError / NameFormatError, an empty or non-alphanumeric
  RuleId with InvalidParameterValue.RuleIdNotExist.
- A face session lives 7200 s; an unknown BizToken is InvalidParameterValue.BizTokenIllegal, an
  expired one InvalidParameterValue.BizTokenExpired.
- The face comparison passes at Sim ≥ 70: below that ErrCode/Comparestatus is 2016 (无法判断为同一人);
  a capture that is not live is ErrCode/LiveStatus 1002 (疑似非真人录制) with no Comparestatus or Sim.
"""

from __future__ import annotations

import json
import re
import secrets
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, TypeGuard

from standins.faults import Behaviour
from app.accounts.rules import id_check_char, normalize_document_name
from app.notifications.sms_templates import DEFAULT_TEMPLATE_IDS, approved_text

SAMPLE_PEOPLE = Path(__file__).with_name("sample_people.json")
FACE_SESSION_TTL = 7200
PASS_SIM = 70.0
KEEP = 10_000  # messages and calls remembered (oldest dropped first)
_MOBILE = re.compile(r"^(?:\+86|0086|86)?(1[3-9][0-9]{9})$")
_ID = re.compile(r"^[0-9]{17}[0-9X]$")
_RULE_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
_VARIABLE = re.compile(r"\{(\d+)\}")
SPOKEN_DIGITS = "〇一二三四五六七八九"
ID_RESULTS = {
    "0": "姓名和身份证号一致", "-1": "姓名和身份证号不一致", "-2": "非法身份证号（长度、校验位等不正确）",
    "-3": "非法姓名（长度、格式等不正确）", "-5": "证件库中无此身份证记录", "-7": "认证次数超过当日限制",
}


class ApiError(Exception):
    """An API error the provider answers as {"Response": {"Error": {"Code", "Message"}, "RequestId"}}."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Config:
    """Who may call and what the provider approved: keys, SDK app ids, the signature, the templates."""

    secret_id: str
    secret_key: str
    sms_sdk_app_id: str
    voice_sdk_app_id: str
    sign_name: str
    templates: Mapping[str, str]  # approved template id -> approved text with {1}, {2}, ...

    def key_for(self, secret_id: str) -> str | None:
        return self.secret_key if secret_id == self.secret_id else None


def approved_templates(extra_ids: Mapping[str, str] | None = None) -> dict[str, str]:
    """The stand-in's approved templates: our DEFAULT_TEMPLATE_IDS, plus any {name: id} given."""
    ids = {**DEFAULT_TEMPLATE_IDS, **(extra_ids or {})}
    return {template_id: approved_text(name) for name, template_id in ids.items() if name in DEFAULT_TEMPLATE_IDS}


def load_people(path: Path = SAMPLE_PEOPLE) -> dict[str, str]:
    """The seeded registry: ID number -> name."""
    return {p["id_number"]: p["name"] for p in json.loads(path.read_text(encoding="utf-8"))["people"]}


@dataclass(frozen=True)
class CallContext:
    """What a call of an action may depend on besides its parameters."""

    now: float
    forced: str | None = None  # a fault mode acted out by the action itself ("throttle", "invalid_phone")
    enrol: bool = False  # the authority takes an ID number it has never seen under the name asked
    base_url: str = ""  # where this stand-in answers (DetectAuth's Url)


@dataclass
class FaceSession:
    biz_token: str
    id_number: str
    name: str
    rule_id: str
    redirect_url: str
    created: float
    result: dict[str, Any] | None = None  # the Text fields once the person did the check


@dataclass
class State:
    config: Config
    seeded: dict[str, str]
    added: dict[str, str] = field(default_factory=dict)
    messages: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=KEEP))
    calls: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=KEEP))
    counts: Counter[str] = field(default_factory=Counter)
    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    standing: dict[str, Behaviour] = field(default_factory=dict)  # "enrol", kept apart from the faults
    faces: dict[str, FaceSession] = field(default_factory=dict)

    def holder(self, id_number: str) -> str | None:
        return self.added.get(id_number) or self.seeded.get(id_number)

    def reset(self) -> None:
        """Forget what was sent, counted, steered and started; the seeded people stay."""
        for kept in (self.added, self.messages, self.calls, self.counts, self.behaviours, self.standing, self.faces):
            kept.clear()

    def behave(self, actions: str, mode: str, count: int, delay: float) -> None:
        """Steer the next `count` calls (0: until cleared) of each action named (or "*"). "enrol" is kept
        apart from the faults, so a fault for one call does not end it."""
        kept = self.standing if mode == STANDING else self.behaviours
        for action in (a.strip() for a in actions.split(",")):
            if action:
                kept[action] = Behaviour(mode, count, delay)

    def take_behaviour(self, action: str) -> Behaviour | None:
        """The fault to act out for this call of `action` (its own, else "*"), used up by one."""
        return _take(self.behaviours, action)

    def take_enrol(self, action: str) -> bool:
        return _take(self.standing, action) is not None

    def enrolled(self, id_number: str, name: str, ctx: CallContext) -> str | None:
        """The holder of `id_number`; with `enrol`, a number never seen becomes `name`'s."""
        holder = self.holder(id_number)
        if holder is None and ctx.enrol:
            self.added[id_number] = holder = name
        return holder

    def face(self, biz_token: str, now: float) -> FaceSession:
        session = self.faces.get(biz_token)
        if session is None:
            raise ApiError("InvalidParameterValue.BizTokenIllegal", "BizToken不合法。")
        if now - session.created > FACE_SESSION_TTL:
            raise ApiError("InvalidParameterValue.BizTokenExpired", "BizToken过期。")
        return session


STANDING = "enrol"


def _take(kept: dict[str, Behaviour], action: str) -> Behaviour | None:
    key = action if action in kept else "*"
    behaviour = kept.get(key)
    if behaviour is not None and behaviour.use():
        del kept[key]
    return behaviour


def iso(now: float) -> str:
    return datetime.fromtimestamp(now, timezone.utc).isoformat()


def mobile(number: Any) -> str | None:
    """The 11 digits of a mainland mobile number in any form the provider accepts, else None."""
    found = _MOBILE.match(number) if isinstance(number, str) else None
    return found.group(1) if found else None


def valid_name(name: str) -> bool:
    """A name as the register holds it: Han characters, or for a foreigner (外国人永久居留身份证) the Latin letters
    of the card, upper-case."""
    return normalize_document_name(name, "permanent_residence") == name


def valid_id_number(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and bool(_ID.match(value)) and id_check_char(value[:17]) == value[17]


def spoken(code: str) -> str:
    """What the voice reads aloud: 您好，您的验证码是：一，二，三。再说一遍：一，二，三。"""
    digits = "，".join(SPOKEN_DIGITS[int(d)] for d in code)
    return f"您好，您的验证码是：{digits}。再说一遍：{digits}。"


# -- SMS ----------------------------------------------------------------------------------------------

def send_sms(state: State, params: Mapping[str, Any], ctx: CallContext) -> dict[str, Any]:
    if params.get("SmsSdkAppId") != state.config.sms_sdk_app_id:
        raise ApiError("InvalidParameterValue.SdkAppIdNotExist", "SdkAppId不存在。")
    numbers = params.get("PhoneNumberSet")
    if not isinstance(numbers, list) or not numbers:
        raise ApiError("MissingParameter", "缺少参数 PhoneNumberSet。")
    if len(numbers) > 200:
        raise ApiError("LimitExceeded.PhoneNumberCountLimit", "单次提交的手机号个数超过200个。")
    template_params = params.get("TemplateParamSet") or []
    if not isinstance(template_params, list) or not all(isinstance(p, str) for p in template_params):
        raise ApiError("InvalidParameter", "TemplateParamSet 须为字符串数组。")
    return {"SendStatusSet": [_send_one(state, number, params, template_params, ctx) for number in numbers]}


def _send_one(state: State, number: Any, params: Mapping[str, Any], template_params: list[str],
              ctx: CallContext) -> dict[str, Any]:
    phone = mobile(number)
    code = _sms_refusal(state, phone, params, template_params, ctx.forced)
    status = {"SerialNo": "", "PhoneNumber": number if isinstance(number, str) else "", "Fee": 0,
              "SessionContext": str(params.get("SessionContext", "")), "Code": code or "Ok",
              "Message": SMS_MESSAGES.get(code or "Ok", "failed"), "IsoCode": "CN" if phone else ""}
    if code is None and phone is not None:
        status.update(SerialNo=f"{secrets.randbelow(9000) + 1000}:{secrets.randbelow(10**28):028d}", Fee=1)
        text = f"【{params['SignName']}】" + fill(state.config.templates[params["TemplateId"]], template_params)
        state.messages.append({"id": status["SerialNo"], "phone": phone, "text": text,
                               "template_id": params["TemplateId"], "params": list(template_params),
                               "sent_at": iso(ctx.now)})
    return status


SMS_MESSAGES = {
    "Ok": "send success", "InvalidParameterValue.IncorrectPhoneNumber": "incorrect phone number",
    "FailedOperation.SignatureIncorrectOrUnapproved": "signature is not approved or is not correct",
    "FailedOperation.TemplateIncorrectOrUnapproved": "template is not approved or request content does not match "
                                                     "the approved template content",
    "FailedOperation.TemplateParamSetNotMatchApprovedTemplate": "request content does not match the template content",
    "LimitExceeded.PhoneNumberThirtySecondLimit": "the number of SMS messages sent from a single mobile number "
                                                  "within 30 seconds exceeds the upper limit",
}


def _sms_refusal(state: State, phone: str | None, params: Mapping[str, Any], template_params: list[str],
                 forced: str | None) -> str | None:
    """The per-number refusal code, checked in the provider's order, or None to send."""
    template_id = params.get("TemplateId")
    template = state.config.templates.get(template_id) if isinstance(template_id, str) else None
    if phone is None or forced == "invalid_phone":
        return "InvalidParameterValue.IncorrectPhoneNumber"
    if params.get("SignName") != state.config.sign_name:
        return "FailedOperation.SignatureIncorrectOrUnapproved"
    if template is None:
        return "FailedOperation.TemplateIncorrectOrUnapproved"
    if len(set(_VARIABLE.findall(template))) != len(template_params):
        return "FailedOperation.TemplateParamSetNotMatchApprovedTemplate"
    if forced == "throttle":
        return "LimitExceeded.PhoneNumberThirtySecondLimit"
    return None


def fill(template: str, params: list[str]) -> str:
    return _VARIABLE.sub(lambda m: params[int(m.group(1)) - 1], template)


# -- voice codes --------------------------------------------------------------------------------------

def send_code_voice(state: State, params: Mapping[str, Any], ctx: CallContext) -> dict[str, Any]:
    if params.get("VoiceSdkAppid") != state.config.voice_sdk_app_id:
        raise ApiError("InvalidParameterValue.SdkAppidNotExist", "SDK AppID 不存在。")
    phone = mobile(params.get("CalledNumber"))
    if phone is None or ctx.forced == "invalid_phone":
        raise ApiError("InvalidParameterValue.CalledNumberVerifyFail", "被叫手机号码格式校验失败。")
    code, play_times = params.get("CodeMessage"), params.get("PlayTimes", 2)
    if not isinstance(code, str) or not code.isascii() or not code.isdigit() or len(code) > 12:
        raise ApiError("FailedOperation.InvalidParameters", "CodeMessage 仅支持数字。")
    if not isinstance(play_times, int) or not 1 <= play_times <= 3:
        raise ApiError("FailedOperation.InvalidParameters", "PlayTimes 取值 1-3。")
    if ctx.forced == "throttle":
        raise ApiError("LimitExceeded.DeliveryFrequencyLimit", "下发语音消息时命中频率限制策略。")
    call_id = str(uuid.uuid4())
    state.calls.append({"id": call_id, "phone": phone, "code": code, "text": spoken(code), "sent_at": iso(ctx.now)})
    return {"SendStatus": {"CallId": call_id, "SessionContext": str(params.get("SessionContext", ""))}}


# -- identity (二要素) and face (人脸核身) ------------------------------------------------------------------

def id_card_verification(state: State, params: Mapping[str, Any], ctx: CallContext) -> dict[str, Any]:
    id_number, name = params.get("IdCard"), params.get("Name")
    if not isinstance(id_number, str) or not isinstance(name, str):
        raise ApiError("InvalidParameter", "缺少参数 IdCard 或 Name。")
    result = "-7" if ctx.forced == "throttle" else _id_result(state, id_number, name, ctx)
    return {"Result": result, "Description": ID_RESULTS[result]}


def _id_result(state: State, id_number: str, name: str, ctx: CallContext) -> str:
    if not valid_id_number(id_number):
        return "-2"
    if not valid_name(name):
        return "-3"
    holder = state.enrolled(id_number, name, ctx)
    if holder is None:
        return "-5"
    return "0" if holder == name else "-1"


def detect_auth(state: State, params: Mapping[str, Any], ctx: CallContext) -> dict[str, Any]:
    rule_id, id_number, name = params.get("RuleId"), params.get("IdCard"), params.get("Name")
    if not isinstance(rule_id, str) or not _RULE_ID.match(rule_id):
        raise ApiError("InvalidParameterValue.RuleIdNotExist", "RuleId不存在，请到人脸核身控制台申请。")
    if not valid_id_number(id_number):
        raise ApiError("FailedOperation.IdFormatError", "输入的身份证号有误。")
    if not isinstance(name, str) or not valid_name(name):
        raise ApiError("FailedOperation.NameFormatError", "输入的姓名有误。")
    holder = state.enrolled(id_number, name, ctx)
    if holder is None:
        raise ApiError("FailedOperation.IdNoExistSystem", "库中无此号，请到户籍所在地进行核实。")
    if holder != name:
        raise ApiError("FailedOperation.IdNameMisMatch", "姓名和身份证号不一致，请核实后重试。")
    token = str(uuid.uuid4()).upper()
    redirect = params.get("RedirectUrl")
    state.faces[token] = FaceSession(token, id_number, name, rule_id,
                                     redirect if isinstance(redirect, str) else "", ctx.now)
    return {"Url": f"{ctx.base_url}/_standin/faceid/page/{token}", "BizToken": token}


def get_detect_info_enhanced(state: State, params: Mapping[str, Any], ctx: CallContext) -> dict[str, Any]:
    token = params.get("BizToken")
    session = state.face(token if isinstance(token, str) else "", ctx.now)
    if params.get("RuleId") != session.rule_id:
        raise ApiError("InvalidParameterValue.RuleIdNotExist", "RuleId与BizToken不匹配。")
    return {"Text": session.result or pending_text(), "IdCardData": None, "BestFrame": None, "VideoData": None}


def pending_text() -> dict[str, Any]:
    """The Text of a session the person has not finished: ErrCode null."""
    return {"ErrCode": None, "ErrMsg": None, "IdCard": None, "Name": None, "LiveStatus": None, "LiveMsg": None,
            "Comparestatus": None, "Comparemsg": None, "Sim": None, "Location": None, "Mobile": None,
            "Extra": "", "LivenessDetail": []}


def score_sample(sample: bytes) -> tuple[bool, float]:
    """(live, Sim) of a capture: many distinct byte values (> 25% of 256) is live, Sim = 55 + 44 × variety."""
    variety = len(set(sample)) / 256
    return variety > 0.25, round(55 + 44 * variety, 2)


def complete_face(session: FaceSession, live: bool, sim: float, now: float) -> None:
    """Record the outcome of the person's check as GetDetectInfoEnhanced will show it."""
    if not live:
        err, msg, compare, compare_msg, sim_text = 1002, "疑似非真人录制", None, None, None
    elif sim >= PASS_SIM:
        err, msg, compare, compare_msg, sim_text = 0, "成功", 0, "成功", f"{sim:.2f}"
    else:
        err, msg, compare, compare_msg, sim_text = 2016, "无法判断为同一人", 2016, "无法判断为同一人", f"{sim:.2f}"
    detail = {"ReqTime": str(int(now * 1000)), "Seq": str(uuid.uuid4()), "Idcard": session.id_number,
              "Name": session.name, "Sim": sim_text, "IsNeedCharge": err in (0, 1002, 2016), "Errcode": err,
              "Errmsg": msg, "Livestatus": 0 if live else 1002, "Livemsg": "成功" if live else msg,
              "Comparestatus": compare, "Comparemsg": compare_msg}
    session.result = {**pending_text(), "ErrCode": err, "ErrMsg": msg, "IdCard": session.id_number,
                      "Name": session.name, "LiveStatus": detail["Livestatus"], "LiveMsg": detail["Livemsg"],
                      "Comparestatus": compare, "Comparemsg": compare_msg, "Sim": sim_text,
                      "LivenessDetail": [detail]}


OUTCOMES = {"pass": (True, 97.0), "fail": (True, 31.0), "not_live": (False, 0.0)}

