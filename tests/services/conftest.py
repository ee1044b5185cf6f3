"""Fixtures of the 办件 stories (applications, 秒批, ratings): issuers, citizens, items, clerks."""

from tests.services.service_factory import (  # noqa: F401  (pytest finds fixtures by name)
    catalogue_admin, clerk, elderly_item, grandma, grandma_card, social_security_issuer, young,
)
from tests.services.applications.joint_factory import mother, retiree  # noqa: F401  (一件事联办)
