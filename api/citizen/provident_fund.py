"""The citizen's 住房公积金: account, deposits by year, withdrawal (提取) eligibility.

Each read is the fund centre's answer through the data exchange (purpose citizen_request), for the
citizen's verified ID number: 实名 is required (403 IDENTITY_LEVEL_REQUIRED, and nothing is sent). A query
parameter that is not valid (year, reason) is 422 before the centre is asked. The centre's own failures
answer as every department call does: 503 DEPARTMENT_UNAVAILABLE with Retry-After (also for a reply of another
shape than the centre's), 403 DEPARTMENT_PURPOSE_NOT_AUTHORISED, 404 DEPARTMENT_SUBJECT_UNKNOWN; past 30 reads
of one service a minute, 429 RATE_LIMITED with Retry-After (nothing sent). A withdrawal itself is applied for
through 办件 (POST /api/v1/applications, item 住房公积金租房提取 or 退休提取).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from sanic import Request
from sanic.response import HTTPResponse

from api.http import audience_blueprint, documented, reply, requires_level
from api.services import services
from app.accounts.rules import LEVEL_REAL_NAME
from app.i18n import translate
from app.departments.provident_fund import (REASON_TEXTS, CentreAccount, CentreDeposits, Eligibility, mask_account_no,
                                            status_text)

bp = audience_blueprint("citizen_provident_fund", url_prefix="/api/v1/provident-fund", audience="citizen")


class FundAccount(BaseModel):
    has_account: bool
    centre: str | None = Field(description="The fund centre keeping the account (住房公积金管理中心)")
    status: str = Field(description="normal (正常), sealed (封存: no deposits now) or none (未开户)")
    status_text: str
    account_no_masked: str | None
    balance_fen: int
    monthly_deposit_fen: int = Field(description="Employer and employee together (单位 + 个人)")
    paid_up_to: str | None = Field(description="The last month deposited, YYYY-MM")
    employer: str | None
    opened_on: str | None
    last_interest_fen: int = Field(description="The last yearly interest credited (年度结息, 30 June)")
    sample: bool


class FundEntry(BaseModel):
    date: str
    type: str = Field(description="deposit (汇缴), interest (年度结息) or withdrawal (提取)")
    type_name: str
    period: str | None = Field(description="The month a deposit pays for, YYYY-MM")
    amount_fen: int = Field(description="Negative for a withdrawal")
    balance_fen: int


class FundDeposits(BaseModel):
    year: int
    has_account: bool
    items: list[FundEntry]
    opening_balance_fen: int
    closing_balance_fen: int
    deposit_total_fen: int
    withdrawal_total_fen: int
    interest_fen: int
    sample: bool


class FundRuleOut(BaseModel):
    code: str
    met: bool
    text: str = Field(description="The rule in plain words")


class FundEligibility(BaseModel):
    reason: str
    reason_text: str
    eligible: bool
    max_amount_fen: int = Field(description="The most that may be withdrawn now; 0 when not eligible")
    balance_fen: int
    rules: list[FundRuleOut]
    sample: bool


def account_out(account: CentreAccount, language: str) -> dict[str, Any]:
    return FundAccount(
        has_account=account.has_account, centre=account.centre, status=account.status,
        status_text=status_text(account.status, language),
        account_no_masked=mask_account_no(account.account_no), balance_fen=account.balance_fen or 0,
        monthly_deposit_fen=account.monthly_deposit_fen or 0, paid_up_to=account.paid_up_to,
        employer=account.employer, opened_on=account.opened_on, last_interest_fen=account.last_interest_fen or 0,
        sample=account.sample,
    ).model_dump()


def deposits_out(deposits: CentreDeposits) -> dict[str, Any]:
    entries = [FundEntry(date=e.date, type=e.type, type_name=e.type_name, period=e.period, amount_fen=e.amount_fen,
                         balance_fen=e.balance_fen) for e in deposits.items]
    return FundDeposits(
        year=deposits.year, has_account=deposits.has_account, items=entries,
        opening_balance_fen=deposits.opening_balance_fen or 0, closing_balance_fen=deposits.closing_balance_fen or 0,
        deposit_total_fen=deposits.deposit_total_fen or 0, withdrawal_total_fen=deposits.withdrawal_total_fen or 0,
        interest_fen=deposits.interest_fen or 0, sample=deposits.sample,
    ).model_dump()


def eligibility_out(answer: Eligibility, language: str) -> dict[str, Any]:
    return FundEligibility(
        reason=answer.reason, reason_text=translate(REASON_TEXTS[answer.reason], language),
        eligible=answer.eligible, max_amount_fen=answer.max_amount_fen, balance_fen=answer.balance_fen,
        rules=[FundRuleOut(code=r.code, met=r.met, text=r.text_in(language)) for r in answer.rules],
        sample=answer.sample,
    ).model_dump()


@bp.get("")
@documented("My 住房公积金 account: centre, status (正常/封存/未开户), masked account number, balance, monthly "
            "deposit, paid up to, employer, last interest", reply_model=FundAccount, level=LEVEL_REAL_NAME,
            tag="provident fund")
@requires_level(LEVEL_REAL_NAME)
async def account(request: Request) -> HTTPResponse:
    answer = await services(request).departments.provident_fund.account(request.ctx.citizen.id)
    return reply(account_out(answer, request.ctx.language))


@bp.get("/deposits")
@documented("缴存明细: one year's entries (?year=YYYY, default this year; 汇缴, 年度结息, 提取) with the balance after "
            "each and the year's totals; a year that is not one is 422", reply_model=FundDeposits,
            level=LEVEL_REAL_NAME, tag="provident fund")
@requires_level(LEVEL_REAL_NAME)
async def deposits(request: Request) -> HTTPResponse:
    answer = await services(request).departments.provident_fund.deposits(request.ctx.citizen.id,
                                                                         request.args.get("year"))
    return reply(deposits_out(answer))


@bp.get("/withdrawal-eligibility")
@documented("可提取: would a withdrawal for ?reason=rent|purchase|retirement be allowed now, each of the fund "
            "centre's rules met or not in plain words, and the maximum amount; another reason is 422",
            reply_model=FundEligibility, level=LEVEL_REAL_NAME, tag="provident fund")
@requires_level(LEVEL_REAL_NAME)
async def withdrawal_eligibility(request: Request) -> HTTPResponse:
    answer = await services(request).departments.provident_fund.withdrawal_eligibility(request.ctx.citizen.id,
                                                                                       request.args.get("reason"))
    return reply(eligibility_out(answer, request.ctx.language))
