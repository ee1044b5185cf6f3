"""社会保险 (社保): insured status, monthly contributions by year, and the personal rights record (个人权益记录) as a
printable proof, signed and verifiable by QR.

Every figure is 人社's, read through the data exchange by the citizen's verified ID number (DepartmentAsker) and
passed through as the department words it; beside its words stand ours in the caller's language (`*_text`).
A printed proof keeps the record encrypted, its SHA-256 digest and the few facts a verifier is shown; its QR
(social_insurance_token.py) names the proof and the digest, signed with the platform's key. A verifier learns
that the paper is genuine, valid, expired or withdrawn, and the facts to compare with the paper.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date, datetime, timedelta
from typing import Literal, Self

from pydantic import BaseModel, Field

from app import audit
from app.money import yuan
from app.clock import china_day
from app.departments import social_insurance_token as proof_token
from app.departments.exchange_services import (HRSS_CONTRIBUTIONS, HRSS_INSURED_STATUS, HRSS_RIGHTS_RECORD,
                                               DepartmentAsker, DepartmentWords, read_reply)
from app.departments.models import SocialInsuranceProof
from app.departments.social_insurance_render import ProofPage, render_pdf, render_png
from app.departments.social_insurance_words import (PERSON_KINDS, PROOF_STATE_NAMES, PROOF_STATES, RECORD_TITLE,
                                                    SCHEME_STATES, SCHEMES, text)
from app.errors import NotFound, ValidationFailed
from app.i18n import translate
from app.ids import new_id
from app.security.ratelimit import Limit, hit_all

FIRST_YEAR = 1990  # the first year of contributions anyone is asked about
PROOF_LIMITS = ((5, 600), (20, 86_400))  # proofs a citizen may print: 5 in ten minutes, 20 a day
PROOF_NOTE = "本记录为示例数据（sample），仅供演示。请扫描二维码核验，并比对核验结果与本页所载信息是否一致。"
PUBLIC_VERIFIER = "扫码核验者（未登录）"
VERIFIED_FACTS = ["record_no", "holder_name_masked", "id_number_masked", "issued_on", "pension_months",
                  "personal_account_fen"]
DocumentKind = Literal["png", "pdf"]


class HrssWords(DepartmentWords):
    """A part of 人社's reply: the fields we use are checked, others are ignored."""


class InsuredScheme(HrssWords):
    """One scheme (参保险种) the person is insured in."""

    code: str
    name: str = Field(description="As 人社 names it (Simplified Chinese)")
    name_text: str = Field(default="", description="Our name of the scheme in the caller's language")
    status: str = Field(description="paying, suspended, receiving or retired")
    status_name: str = Field(description="As 人社 words the state")
    status_text: str = Field(default="", description="Our word for the state in the caller's language")
    since: str = Field(description="The first month insured, YYYY-MM")

    def localized(self, language: str) -> Self:
        return self.model_copy(update={"name_text": text(SCHEMES, self.code, language, self.name),
                                       "status_text": text(SCHEME_STATES, self.status, language, self.status_name)})


class RecordedScheme(InsuredScheme):
    """A scheme as the rights record states it: with the months contributed."""

    months_total: int


class InsuredStatus(HrssWords):
    """参保状态."""

    insured: bool
    insured_place: str
    person_kind: str = Field(description="employee, flexible, resident, retired or minor")
    person_kind_name: str = Field(description="As 人社 words it")
    person_kind_text: str = Field(default="", description="Our word for it in the caller's language")
    employer: str | None
    schemes: list[InsuredScheme]
    checked_on: date
    sample: bool = False

    def localized(self, language: str) -> InsuredStatus:
        return self.model_copy(update={
            "person_kind_text": text(PERSON_KINDS, self.person_kind, language, self.person_kind_name),
            "schemes": [s.localized(language) for s in self.schemes]})


class SchemeContribution(HrssWords):
    code: str
    name: str = Field(description="As 人社 names the scheme")
    name_text: str = Field(default="", description="Our name of the scheme in the caller's language")
    employer_fen: int
    personal_fen: int

    def localized(self, language: str) -> SchemeContribution:
        return self.model_copy(update={"name_text": text(SCHEMES, self.code, language, self.name)})


class MonthOfContributions(HrssWords):
    month: str = Field(description="YYYY-MM")
    base_fen: int | None = Field(description="The contribution base (缴费基数); none for a resident's yearly payment")
    employer: str | None
    items: list[SchemeContribution]
    employer_total_fen: int
    personal_total_fen: int
    status: str = Field(description="As 人社 words it, e.g. 已到账")

    def localized(self, language: str) -> MonthOfContributions:
        return self.model_copy(update={"items": [i.localized(language) for i in self.items]})


class InsuranceContributions(HrssWords):
    """缴费明细 of one year."""

    year: int
    months: list[MonthOfContributions]
    months_paid: int
    employer_total_fen: int
    personal_total_fen: int
    sample: bool = False

    def localized(self, language: str) -> InsuranceContributions:
        return self.model_copy(update={"months": [m.localized(language) for m in self.months]})


class PensionRights(HrssWords):
    months_total: int
    personal_account_fen: int
    this_year_months: int


class MedicalRights(HrssWords):
    personal_account_fen: int


class RightsRecord(HrssWords):
    """个人权益记录, as the annual statement shows it."""

    record_no: str = Field(max_length=40)
    title: str
    title_text: str = Field(default="", description="The title in the caller's language")
    issuer: str = Field(max_length=100)
    issued_on: date
    insured_place: str
    person_kind_name: str
    employer: str | None
    schemes: list[RecordedScheme]
    pension: PensionRights
    medical: MedicalRights
    this_year_base_fen: int | None
    sample: bool = False

    def localized(self, language: str) -> RightsRecord:
        return self.model_copy(update={"title_text": translate(RECORD_TITLE, language),
                                       "schemes": [s.localized(language) for s in self.schemes]})


class SocialInsuranceProofView(BaseModel):
    """A proof the citizen printed, as they see it."""

    id: str
    record_no: str
    issued_on: date
    issued_at: datetime
    valid_until: date = Field(description="The last day (Beijing time) a verifier is told it is valid")
    state: str = Field(description="valid, expired or revoked: what a verifier of its QR is told today")
    status_text: str
    png_url: str
    pdf_url: str


class SocialInsuranceProofList(BaseModel):
    items: list[SocialInsuranceProofView]


class SocialInsuranceProofCheck(BaseModel):
    """What a verifier of the QR is told. The holder and the figures only while the proof is valid."""

    valid: bool
    reason: str | None = Field(description="null when valid, else expired or revoked")
    status_text: str
    record_no: str
    holder_name_masked: str | None
    id_number_masked: str | None
    issued_on: date
    valid_until: date
    pension_months: int | None
    personal_account_fen: int | None
    issuer: str
    sample: bool


class SocialInsurance:
    """The citizen's 社保 at 人社, and the proofs of it they print."""

    def __init__(self, asker: DepartmentAsker) -> None:
        self.asker = asker
        self.platform = asker.platform

    def _today(self) -> date:
        return self.platform.clock.today()

    async def status(self, citizen_id: str, language: str) -> InsuredStatus:
        reply = await self.asker.ask(HRSS_INSURED_STATUS, citizen_id)
        return read_reply(InsuredStatus, reply, HRSS_INSURED_STATUS).localized(language)

    async def contributions(self, citizen_id: str, year: int | None, language: str) -> InsuranceContributions:
        """缴费明细 of `year` (this year when None): 422 naming `year` outside 1990 to this year, before asking."""
        this_year = self._today().year
        year = this_year if year is None else year
        if not FIRST_YEAR <= year <= this_year:
            raise ValidationFailed([{"field": "year", "problem": f"{FIRST_YEAR}-{this_year}"}])
        reply = await self.asker.ask(HRSS_CONTRIBUTIONS, citizen_id, {"year": year})
        return read_reply(InsuranceContributions, reply, HRSS_CONTRIBUTIONS).localized(language)

    async def rights_record(self, citizen_id: str, language: str) -> RightsRecord:
        reply = await self.asker.ask(HRSS_RIGHTS_RECORD, citizen_id)
        return read_reply(RightsRecord, reply, HRSS_RIGHTS_RECORD).localized(language)

    # -- printed proofs ------------------------------------------------------------------------
    async def issue_proof(self, citizen_id: str, name_masked: str, id_number_masked: str,
                          language: str) -> SocialInsuranceProofView:
        """A printable proof of the rights record as 人社 gives it now; `name_masked` and `id_number_masked` are
        the holder's as accounts masks them. At most 5 in ten minutes and 20 a day (429 RATE_LIMITED)."""
        await hit_all(self.platform.cache, self.platform.clock, [Limit(f"si-proof:{citizen_id}:{window}", limit, window)
                                                   for limit, window in PROOF_LIMITS])
        reply = await self.asker.ask(HRSS_RIGHTS_RECORD, citizen_id)
        record = read_reply(RightsRecord, reply, HRSS_RIGHTS_RECORD)
        proof_id, now = new_id("sip"), self.platform.clock.now()
        proof = await SocialInsuranceProof.create(
            id=proof_id, citizen_id=citizen_id, record_no=record.record_no,
            record_digest=proof_token.record_digest(reply),
            record_enc=self.platform.pii.encrypt(json.dumps(reply, ensure_ascii=False), f"si-proof-record:{proof_id}"),
            holder_enc=self.platform.pii.encrypt(json.dumps({"name": name_masked, "id_number": id_number_masked},
                                                     ensure_ascii=False), f"si-proof-holder:{proof_id}"),
            issuer=record.issuer, issued_on=record.issued_on, pension_months=record.pension.months_total,
            personal_account_fen=record.pension.personal_account_fen, issued_at=now,
            valid_until=china_day(now) + timedelta(days=self.platform.settings.security.printed_proof_days))
        await audit.record_event(self.platform.clock, actor=citizen_id, actor_type="citizen",
                                 action="social_insurance_proof_issued", subject_id=citizen_id,
                                 attributes={"proof_id": proof_id, "record_no": record.record_no})
        return self._view(proof, language)

    async def proofs_of(self, citizen_id: str, language: str) -> SocialInsuranceProofList:
        """The citizen's printed proofs, newest first."""
        proofs = await SocialInsuranceProof.filter(citizen_id=citizen_id).order_by("-issued_at")
        return SocialInsuranceProofList(items=[self._view(p, language) for p in proofs])

    async def proof(self, citizen_id: str, proof_id: str, language: str) -> SocialInsuranceProofView:
        return self._view(await self._owned(citizen_id, proof_id), language)

    def _state(self, proof: SocialInsuranceProof) -> str:
        return "revoked" if proof.revoked_at else "expired" if self._today() > proof.valid_until else "valid"

    def _view(self, proof: SocialInsuranceProof, language: str) -> SocialInsuranceProofView:
        base, state = f"/api/v1/social-insurance/proofs/{proof.id}", self._state(proof)
        return SocialInsuranceProofView(
            id=proof.id, record_no=proof.record_no, issued_on=proof.issued_on, issued_at=proof.issued_at,
            valid_until=proof.valid_until, state=state, status_text=text(PROOF_STATE_NAMES, state, language),
            png_url=f"{base}.png", pdf_url=f"{base}.pdf")

    async def proof_document(self, citizen_id: str, proof_id: str, kind: DocumentKind) -> bytes:
        """The holder's proof as a page (PNG or PDF) with a freshly signed QR, drawn off the event loop. Another
        citizen's, like an unknown one, is 404 PROOF_NOT_FOUND."""
        proof = await self._owned(citizen_id, proof_id)
        page = self._page(proof)
        return await asyncio.get_running_loop().run_in_executor(None, render_png if kind == "png" else render_pdf,
                                                                page)

    async def revoke_proof(self, citizen_id: str, proof_id: str) -> None:
        """The holder withdraws a proof: from now on a verifier is told it is withdrawn."""
        proof = await self._owned(citizen_id, proof_id)
        if await SocialInsuranceProof.filter(id=proof.id, revoked_at=None).update(revoked_at=self.platform.clock.now()):
            await audit.record_event(self.platform.clock, actor=citizen_id, actor_type="citizen",
                                     action="social_insurance_proof_revoked", subject_id=citizen_id,
                                     attributes={"proof_id": proof.id})

    async def verify_proof(self, token: str, language: str) -> SocialInsuranceProofCheck:
        """A verifier scanned the QR: 422 PROOF_INVALID unless it is our signed token of this proof as stored,
        404 PROOF_NOT_FOUND for a proof we never issued; else valid, expired or revoked. A valid check tells the
        holder's masked name and figures, and is in the holder's access log."""
        kept = timedelta(days=self.platform.settings.security.printed_proof_days + 1)  # a page outlives its key's rotation
        claims = proof_token.read(token, lambda kid: self.platform.keys.find_signed_within(kid, kept))
        proof = await SocialInsuranceProof.get_or_none(id=claims.proof_id)
        if proof is None:
            raise NotFound("PROOF_NOT_FOUND")
        if (claims.record_digest, claims.issued_on, claims.valid_until) != \
                (proof.record_digest, proof.issued_on, proof.valid_until):
            raise proof_token.ProofInvalid()
        state = self._state(proof)
        record = json.loads(self.platform.pii.decrypt(proof.record_enc, f"si-proof-record:{proof.id}"))
        check = SocialInsuranceProofCheck(
            valid=False, reason=state, status_text=text(PROOF_STATES, state, language), record_no=proof.record_no,
            holder_name_masked=None, id_number_masked=None, issued_on=proof.issued_on, valid_until=proof.valid_until,
            pension_months=None, personal_account_fen=None, issuer=proof.issuer, sample=bool(record.get("sample")))
        if state != "valid":
            return check
        holder = json.loads(self.platform.pii.decrypt(proof.holder_enc, f"si-proof-holder:{proof.id}"))
        await audit.record_access(self.platform.clock, citizen_id=proof.citizen_id, actor=PUBLIC_VERIFIER,
                                  actor_type="relying_party", action="social_insurance_proof_verified",
                                  attributes=VERIFIED_FACTS, purpose="proof_verification")
        return check.model_copy(update={
            "valid": True, "reason": None, "holder_name_masked": holder["name"],
            "id_number_masked": holder["id_number"], "pension_months": proof.pension_months,
            "personal_account_fen": proof.personal_account_fen})

    async def _owned(self, citizen_id: str, proof_id: str) -> SocialInsuranceProof:
        """Only the holder's own proofs are found: another citizen's is "not found", never "forbidden"."""
        proof = await SocialInsuranceProof.get_or_none(id=proof_id, citizen_id=citizen_id)
        if proof is None:
            raise NotFound("PROOF_NOT_FOUND")
        return proof

    def _page(self, proof: SocialInsuranceProof) -> ProofPage:
        record = RightsRecord.model_validate_json(self.platform.pii.decrypt(proof.record_enc, f"si-proof-record:{proof.id}"))
        holder = json.loads(self.platform.pii.decrypt(proof.holder_enc, f"si-proof-holder:{proof.id}"))
        key = self.platform.keys.current
        claims = proof_token.ProofClaims(proof.id, proof.record_digest, proof.issued_on, proof.valid_until)
        pension = record.pension
        figures = [("养老保险累计缴费", f"{pension.months_total} 个月"),
                   ("养老保险个人账户", yuan(pension.personal_account_fen)),
                   ("本年缴费月数", f"{pension.this_year_months} 个月"),
                   ("医疗保险个人账户", yuan(record.medical.personal_account_fen))]
        if record.this_year_base_fen is not None:
            figures.append(("本年缴费基数", f"{yuan(record.this_year_base_fen)} / 月"))
        return ProofPage(
            title=record.title, record_no=record.record_no,
            holder=(("姓名", holder["name"]), ("公民身份号码", holder["id_number"]), ("参保地", record.insured_place),
                    ("人员类别", record.person_kind_name), ("参保单位", record.employer or "—")),
            figures=tuple(figures),
            schemes=tuple((s.name, s.status_name, s.since, str(s.months_total))
                          for s in record.schemes),
            issuer=record.issuer, issued_on=record.issued_on.isoformat(), valid_until=proof.valid_until.isoformat(),
            qr_text=proof_token.sign(claims, key), note=PROOF_NOTE)


__all__ = ["InsuranceContributions", "InsuredStatus", "RightsRecord", "SocialInsurance", "SocialInsuranceProofCheck",
           "SocialInsuranceProofList", "SocialInsuranceProofView"]
