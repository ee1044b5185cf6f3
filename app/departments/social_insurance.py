"""社会保险 (社保): insured status, monthly contributions by year, and the personal rights record (个人权益记录) as a printable proof, signed and verifiable by QR."""

from __future__ import annotations

from app.departments.exchange_services import DepartmentAsker


class SocialInsurance:
    def __init__(self, asker: DepartmentAsker) -> None:
        self.asker = asker
