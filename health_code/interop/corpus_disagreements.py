"""Where the verifier disagrees on purpose with the public EU DCC corpus (dgc-testdata).

`DISAGREEMENTS` maps a corpus file (its path under the corpus folder, e.g. "ES/401.json") to
the flags of its EXPECTEDRESULTS we conclude otherwise, with what we conclude and why. Every
other file of the corpus must agree with its expected results. The corpus test
(tests/health_code/interop/test_dcc_corpus.py) fails when a file disagrees without being
listed here, and when an entry is stale: its file is gone, or now agrees, or disagrees on
other flags than the ones listed.

It is empty: the verifier agrees with every file. Codes real issuers produced that a
reading of the specification could refuse are accepted, with the reason where they are
read (health_code.interop.dcc): float iat/exp, null certificate types, exp equal to the
clock, an unprotected kid beside a protected one, signer certificates that are not strict
DER, ES256 with a P-384 key, several vaccination entries in one certificate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping


@dataclass(frozen=True)
class Disagreement:
    concluded: Mapping[str, bool]  # EXPECTED* flag → what the verifier concludes instead
    reason: str


DISAGREEMENTS: dict[str, Disagreement] = {}


def stale_entries(listed: Mapping[str, Disagreement], found: Mapping[str, Mapping[str, bool]]) -> dict[str, str]:
    """Listed entries that no longer hold, each with why, given `found`: every corpus file →
    the flags it disagrees on (empty when it agrees)."""
    stale = {}
    for name, entry in listed.items():
        if name not in found:
            stale[name] = "no such file in the corpus"
        elif not found[name]:
            stale[name] = "the file now agrees with its expected results"
        elif dict(found[name]) != dict(entry.concluded):
            stale[name] = f"it now disagrees on {dict(found[name])}, listed {dict(entry.concluded)}"
    return stale


def unlisted(listed: Mapping[str, Disagreement], found: Mapping[str, Mapping[str, bool]]) -> dict[str, dict[str, bool]]:
    """Files that disagree without being listed, with the flags they disagree on."""
    return {name: dict(flags) for name, flags in found.items() if flags and name not in listed}
