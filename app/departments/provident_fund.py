"""住房公积金: balance, deposits, and withdrawals (提取) through 办件 with 秒批 rules that read the fund centre's data.

Everything here is the fund centre's (住房公积金管理中心) own record, read through the data exchange
(docs/exchange.md) by the citizen's verified ID number: the account (账户状态 正常/封存/未开户, 余额, 月缴存额),
one year's entries (缴存明细: 汇缴, 年度结息, 提取) and whether a withdrawal for a reason (租房, 购房, 退休) would be
allowed, each of the centre's rules with whether it is met, in its own words.

For a withdrawal applied for through 办件, `withdrawal_checks` asks the same question with purpose
`eligibility_check` and turns the answer into the checks the item's 秒批 rules read (app/services/applications/approval.py):
each rule of the centre's, the centre's overall answer (`eligible`) and whether the amount asked for is within
the maximum it allows (`amount_within_limit`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, Self

from pydantic import ConfigDict, model_validator

from app.money import yuan
from app.departments.exchange_services import (HPF_ACCOUNT, HPF_DEPOSITS, HPF_WITHDRAWAL_ELIGIBILITY, OWN,
                                               DepartmentAsker, DepartmentWords, Reader, read_reply, unreadable)
from app.errors import ValidationFailed
from app.i18n import N_, NC_, ZH_HANS, translate

REASONS = ("rent", "purchase", "retirement")  # 租房提取, 购房提取, 退休提取
FIRST_YEAR = 1990  # the fund centres' records start here
STATUS_TEXTS: dict[str, str] = {  # zh-Hans msgids; "normal" is said in ACTIVE_STATUS
    "sealed": N_("封存"),
    "none": N_("未开户"),
}
ACTIVE_STATUS = NC_("公积金账户状态", "正常")  # "Active": a plain "正常" is a status label's "OK"
REASON_TEXTS: dict[str, str] = {
    "rent": N_("租赁住房提取"),
    "purchase": N_("购买自住住房提取"),
    "retirement": N_("离休、退休提取"),
}
# The centre's rules by code, in our zh-Hans words (the msgids of their zh-Hant and en); in zh-Hans a rule is
# always said in the centre's own text.
RULE_TEXTS: dict[str, str] = {
    "account_open": N_("已开立住房公积金个人账户"),
    "normal": N_("账户处于正常缴存状态"),
    "paid_3_months": N_("连续足额缴存满3个月"),
    "paid_6_months": N_("连续足额缴存满6个月"),
    "interval": N_("距上次租房提取满3个月"),
    "balance": N_("账户余额大于零"),
    "retired": N_("已达法定退休年龄"),
}
AMOUNT_RULE = "amount_within_limit"
ELIGIBLE_RULE = "eligible"


def status_text(status: str, language: str) -> str:
    """An account's status (正常, 封存, 未开户) in `language`."""
    return translate(ACTIVE_STATUS if status == "normal" else STATUS_TEXTS[status], language)


def mask_account_no(account_no: str | None) -> str | None:
    """G123456789012 -> G********9012: the first character (the city) and the last four show."""
    if not account_no:
        return None
    return account_no[:1] + "*" * max(len(account_no) - 5, 0) + account_no[-4:] if len(account_no) > 5 else \
        "*" * len(account_no)


def check_reason(reason: str | None) -> str:
    """One of REASONS, else 422 naming the field (before any department is asked)."""
    if reason not in REASONS:
        raise ValidationFailed([{"field": "reason", "problem": "one of " + ", ".join(REASONS)}])
    return reason


def check_year(year: str | int | None, today: date) -> int:
    """A whole year from FIRST_YEAR to this one (Beijing time), else 422 naming the field."""
    text = str(year).strip() if year is not None else ""
    if not (text.isascii() and text.isdigit() and len(text) == 4 and FIRST_YEAR <= int(text) <= today.year):
        raise ValidationFailed([{"field": "year", "problem": f"a year from {FIRST_YEAR} to {today.year}"}])
    return int(text)


@dataclass(frozen=True)
class FundRule:
    """One rule of the centre's for a withdrawal (提取条件), met or not, in its words."""

    code: str
    met: bool
    text: str

    def text_in(self, language: str) -> str:
        if language == ZH_HANS or self.code not in RULE_TEXTS:
            return self.text
        return translate(RULE_TEXTS[self.code], language)


@dataclass(frozen=True)
class Eligibility:
    """Whether a withdrawal for `reason` would be allowed (可提取), up to how much, and why."""

    reason: str
    eligible: bool
    max_amount_fen: int
    balance_fen: int
    rules: list[FundRule]
    sample: bool


class CentreWords(DepartmentWords):
    """A part of the fund centre's reply, checked strictly: amounts are whole fen, never a string or a boolean."""

    model_config = ConfigDict(extra="ignore", strict=True)


class CentreAccount(CentreWords):
    """账户信息 as the centre answers it; the figures are required of an account that exists (未开户 has none)."""

    has_account: bool
    status: Literal["normal", "sealed", "none"]
    centre: str | None = None
    account_no: str | None = None
    balance_fen: int | None = None
    monthly_deposit_fen: int | None = None
    paid_up_to: str | None = None
    employer: str | None = None
    opened_on: str | None = None
    last_interest_fen: int | None = None
    sample: bool = False

    @model_validator(mode="after")
    def _figures_of_an_account(self) -> Self:
        if self.has_account and None in (self.balance_fen, self.monthly_deposit_fen, self.last_interest_fen):
            raise ValueError("an account without its figures")
        return self


class CentreEntry(CentreWords):
    """One entry of 缴存明细: 汇缴 (deposit), 年度结息 (interest) or 提取 (withdrawal)."""

    date: str
    type: str
    type_name: str
    period: str | None = None
    amount_fen: int
    balance_fen: int


class CentreDeposits(CentreWords):
    """缴存明细 of one year and its totals (none without an account)."""

    year: int
    has_account: bool
    items: list[CentreEntry] = []
    opening_balance_fen: int | None = None
    closing_balance_fen: int | None = None
    deposit_total_fen: int | None = None
    withdrawal_total_fen: int | None = None
    interest_fen: int | None = None
    sample: bool = False

    @model_validator(mode="after")
    def _totals_of_an_account(self) -> Self:
        totals = (self.opening_balance_fen, self.closing_balance_fen, self.deposit_total_fen,
                  self.withdrawal_total_fen, self.interest_fen)
        if self.has_account and None in totals:
            raise ValueError("an account's year without its totals")
        return self


class CentreRule(CentreWords):
    code: str
    met: bool
    text: str


class CentreEligibility(CentreWords):
    """可提取 as the centre answers it: its overall answer, the maximum, and each rule."""

    reason: str
    eligible: bool
    max_amount_fen: int
    balance_fen: int
    reasons: list[CentreRule]
    sample: bool = False


class ProvidentFund:
    """The citizen's 住房公积金 as the fund centre keeps it, asked through one DepartmentAsker."""

    def __init__(self, asker: DepartmentAsker) -> None:
        self.asker = asker

    def today(self) -> date:
        return self.asker.platform.clock.today()

    async def account(self, citizen_id: str) -> CentreAccount:
        """The account (账户信息) as the centre answers it: `has_account`, `status`, balance, deposits, employer."""
        return read_reply(CentreAccount, await self.asker.ask(HPF_ACCOUNT, citizen_id), HPF_ACCOUNT)

    async def deposits(self, citizen_id: str, year: str | int | None) -> CentreDeposits:
        """缴存明细 of one year: each entry (汇缴, 年度结息, 提取) with the balance after it, and the year's totals.
        A year that is not one is refused before the centre is asked."""
        checked = check_year(year if year is not None else self.today().year, self.today())
        answer = read_reply(CentreDeposits, await self.asker.ask(HPF_DEPOSITS, citizen_id, {"year": checked}),
                            HPF_DEPOSITS)
        if answer.year != checked:  # another year than asked: not the answer to the question
            raise unreadable(HPF_DEPOSITS)
        return answer

    async def withdrawal_eligibility(self, citizen_id: str, reason: str | None, *, amount_fen: int | None = None,
                                     purpose: str = "citizen_request", reader: Reader = OWN) -> Eligibility:
        """可提取: whether a withdrawal for `reason` would be allowed now, each rule met or not, and the maximum."""
        body: dict[str, Any] = {"reason": check_reason(reason)}
        if amount_fen is not None:
            body["amount_fen"] = amount_fen
        reply = read_reply(CentreEligibility, await self.asker.ask(HPF_WITHDRAWAL_ELIGIBILITY, citizen_id, body,
                                                                   purpose=purpose, reader=reader),
                           HPF_WITHDRAWAL_ELIGIBILITY)
        if reply.reason != body["reason"]:  # the answer for another reason: not the answer to the question
            raise unreadable(HPF_WITHDRAWAL_ELIGIBILITY)
        return Eligibility(reason=reply.reason, eligible=reply.eligible, max_amount_fen=reply.max_amount_fen,
                           balance_fen=reply.balance_fen, rules=[FundRule(r.code, r.met, r.text) for r in reply.reasons],
                           sample=reply.sample)

    async def withdrawal_checks(self, citizen_id: str, reason: str, amount_fen: int,
                                reader: Reader = OWN) -> list[FundRule]:
        """What a 秒批 rule of a withdrawal item reads (purpose eligibility_check): each of the centre's rules,
        its overall answer, and whether `amount_fen` is within the maximum it allows."""
        answer = await self.withdrawal_eligibility(citizen_id, reason, amount_fen=amount_fen,
                                                   purpose="eligibility_check", reader=reader)
        within = answer.eligible and 0 < amount_fen <= answer.max_amount_fen
        return [*answer.rules,
                FundRule(ELIGIBLE_RULE, answer.eligible, f"公积金中心核验符合{REASON_TEXTS[reason]}条件"),
                FundRule(AMOUNT_RULE, within,
                         f"申请提取金额 {yuan(amount_fen)} 不超过可提取额度 {yuan(answer.max_amount_fen)}")]


__all__ = ["AMOUNT_RULE", "ELIGIBLE_RULE", "REASONS", "CentreAccount", "CentreDeposits", "CentreEligibility",
           "Eligibility", "FundRule", "ProvidentFund", "check_reason", "check_year", "mask_account_no", "read_reply"]
