"""部门服务 as other domains and the API use them: one object holding each department's services, all asking
through one DepartmentAsker (app/departments/exchange_services.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Awaitable, Callable

from app.departments.exchange_services import HPF_WITHDRAWAL_ELIGIBILITY, OWN, DepartmentAsker, Reader
# The exchange service ids other domains name (the home cards read these services too).
from app.departments.exchange_services import HPF_ACCOUNT as HPF_ACCOUNT, NHSA_MEDICAL_ACCOUNT as NHSA_MEDICAL_ACCOUNT
from app.departments.exchange_services import HRSS_PENSION_CERTIFICATION as HRSS_PENSION_CERTIFICATION
from app.departments.exchange_services import HRSS_RIGHTS_RECORD as HRSS_RIGHTS_RECORD
from app.departments.exchange_services import TPB_SETTLEMENTS as TPB_SETTLEMENTS, TPB_VIOLATIONS as TPB_VIOLATIONS
from app.departments.features import search_features
from app.departments.models import LicenceStatusPull, SocialInsuranceProof
from app.departments.provident_fund import ProvidentFund
from app.departments.social_insurance import SocialInsurance
from app.departments.social_security_card import SocialSecurityCards
from app.departments.traffic import TrafficPolice

if TYPE_CHECKING:
    from app.integrations.exchange.client import ExchangeClient
    from app.platform import Platform
    from app.vouchers.service import LicenceService


class DepartmentServices:
    def __init__(self, platform: Platform, exchange: ExchangeClient | None,
                 licences: LicenceService | None = None,
                 settled: Callable[[str], Awaitable[set[str]]] | None = None) -> None:
        self.asker = DepartmentAsker(platform, exchange)
        self.social_insurance = SocialInsurance(self.asker)
        self.social_security_card = SocialSecurityCards(self.asker)
        self.provident_fund = ProvidentFund(self.asker)
        self.traffic = TrafficPolice(self.asker, licences, settled)  # keeps the wallet's 驾驶证 in step with 交管

    # -- account deletion (注销) ----------------------------------------------------------------------
    @staticmethod
    async def erase_citizen(citizen_id: str) -> None:
        """The account is erased: the platform's copies of department records go (printed social-insurance
        proofs then no longer verify; 人社 keeps the record itself), and so does the status-pull state of its
        wallet licences. The departments keep their own records."""
        await SocialInsuranceProof.filter(citizen_id=citizen_id).delete()
        await LicenceStatusPull.filter(citizen_id=citizen_id).delete()


__all__ = ["HPF_WITHDRAWAL_ELIGIBILITY", "OWN", "DepartmentServices", "Reader", "search_features"]


# -- export of the citizen's own data (个人信息副本) ------------------------------------------------
# This section's imports are kept here, with the section, so that it stands apart from the rest of the module.
from app.personal_data import Areas, Sealed, record_of  # noqa: E402
from app.security.pii import PiiCipher  # noqa: E402


async def export_of(pii: PiiCipher, citizen_id: str) -> Areas:
    """Departments' part of the citizen's copy of their data: the printed social-insurance proofs
    (个人权益记录) with the department's record opened, and when each wallet licence was last checked with
    its department."""
    sealed = {"record_enc": Sealed("si-proof-record:{id}", json=True), "holder_enc": Sealed("si-proof-holder:{id}", json=True)}
    return {
        "social_insurance_proofs": [record_of(row, pii, sealed=sealed) for row in
                                    await SocialInsuranceProof.filter(citizen_id=citizen_id).order_by("issued_at")],
        "licence_status_checks": [record_of(row, pii) for row in
                                  await LicenceStatusPull.filter(citizen_id=citizen_id).order_by("tried_at")],
    }
