"""Codes from other issuers (互认): format adapters, trust lists, test vectors."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from health_code.interop.formats import FormatAdapter


def default_adapters() -> list[FormatAdapter]:
    """Every format we read, in detection order: our own `GDHC1:`, then the EU DCC `HC1:`."""
    from health_code.interop.dcc import EuDccFormat
    from health_code.interop.formats import OurFormat

    return [OurFormat(), EuDccFormat()]
