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


__all__ = ["HPF_WITHDRAWAL_ELIGIBILITY", "OWN", "DepartmentServices", "Reader", "search_features"]
