"""Fixtures of the wallet stories: the licence admin, issuers, holders, a licence, a relying party."""

from tests.vouchers.licence_factory import (  # noqa: F401  (pytest finds fixtures by name)
    civil_affairs, landlord_agency, li_si, licence, licence_admin, police, zhang_san,
)
