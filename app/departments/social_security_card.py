"""电子社保卡: the holder's dynamic signed QR, short-lived like the health code, and the check a pharmacy or hospital makes of it."""

from __future__ import annotations

from app.departments.exchange_services import DepartmentAsker


class SocialSecurityCards:
    def __init__(self, asker: DepartmentAsker) -> None:
        self.asker = asker
