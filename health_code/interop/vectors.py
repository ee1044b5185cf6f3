"""Test vectors in the dgc-testdata layout: load one file, run it through the format adapters.

A file holds the code (`PREFIX`, else `BASE45` or `COSE`), a `TESTCTX` with the signer's
`CERTIFICATE` (base64 DER) and the `VALIDATIONCLOCK`, and `EXPECTEDRESULTS` flags. Unknown
keys are ignored. Each stage is reported on its own, as dgc-testdata checks them:

- unprefix / b45decode / compression / decode: how far `decode` got (None = not reached);
- verify: the signature check alone (`EXPECTEDVERIFY`): the kid names the file's signer, the
  algorithm fits its key and the signature is good, whatever the later checks say and whatever
  the signer certificate's dates; None when the code was not decoded;
- signer_valid: whether the signer certificate was inside its validity at the clock (None
  when there is no certificate or the kid does not name it); a trust list refuses a code
  signed by a key outside its validity (error KEY_NOT_VALID), but that is a question apart
  from the signature's;
- key_usage: whether the signer certificate may sign this type of certificate;
- expired: whether the code is outside its iat/exp validity at the clock. Both are read from
  the decoded code even when the signature failed (a test vector asks about each on its own);
- error: the first CodeError of the full pipeline (decode, then the adapter's `verify`, with
  the certificate's dates);
- disagrees: the flags of the file's EXPECTEDRESULTS (those in `EXPECTED_CHECKS`) our result
  concludes otherwise; empty when it agrees, None when the file could not be read.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, TypedDict

from health_code.codec import CodeError
from health_code.interop.dcc import PREFIX as DCC_PREFIX
from health_code.interop.dcc import SIGNER_ERRORS, EuDccFormat, time_error, trusted_key_from_certificate, usage_allowed
from health_code.interop.formats import DecodedCode, FormatAdapter, TrustedKey, check_key_validity

UNREADABLE_FILE = "UNREADABLE_FILE"

_CLOCK = re.compile(
    r"(?P<base>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?)(?:[.,](?P<fraction>\d+))?"
    r"(?P<zone>[Zz]|[+-]\d{2}(?::?\d{2})?)?"
)


class VectorFileError(ValueError):
    """The file cannot be read as a test vector (missing, not JSON, malformed context)."""


@dataclass(frozen=True)
class Vector:
    path: str
    text: str | None  # the QR text; None when the file only has the COSE bytes
    cose: bytes | None
    now: float
    key: TrustedKey | None  # from TESTCTX.CERTIFICATE
    expected: Mapping[str, bool]


@dataclass(frozen=True)
class VectorResult:
    file: str
    format: str | None = None
    unprefix: bool | None = None
    b45decode: bool | None = None
    compression: bool | None = None
    decode: bool | None = None
    verify: bool | None = None
    signer_valid: bool | None = None
    key_usage: bool | None = None
    expired: bool | None = None
    error: str | None = None
    disagrees: tuple[str, ...] | None = None

    def line(self) -> dict[str, Any]:
        """What the CLI prints for this file."""
        return {"file": self.file, "format": self.format, "decode": self.decode, "verify": self.verify,
                "signer_valid": self.signer_valid, "expired": self.expired, "error": self.error,
                "disagrees": list(self.disagrees) if self.disagrees is not None else None}


# EXPECTEDRESULTS flag → whether our result passed that check. A check that was not reached
# (None) did not pass: a code that cannot be decoded is not verified either. Other flags of
# the format (schema validation, JSON, picture, encoding) are about issuing, not verifying.
EXPECTED_CHECKS: dict[str, Callable[[VectorResult], bool]] = {
    "EXPECTEDUNPREFIX": lambda r: r.unprefix is True,
    "EXPECTEDB45DECODE": lambda r: r.b45decode is True,
    "EXPECTEDCOMPRESSION": lambda r: r.compression is True,
    "EXPECTEDDECODE": lambda r: r.decode is True,
    "EXPECTEDVERIFY": lambda r: r.verify is True,
    "EXPECTEDEXPIRATIONCHECK": lambda r: r.expired is False,  # true = not expired at the clock
    "EXPECTEDKEYUSAGE": lambda r: r.key_usage is True,
}


def asserted_flags(expected: Mapping[str, bool]) -> dict[str, bool]:
    """The flags of a file's EXPECTEDRESULTS that a verifier answers."""
    return {flag: value for flag, value in expected.items() if flag in EXPECTED_CHECKS}


def differences(result: VectorResult, expected: Mapping[str, bool]) -> dict[str, bool]:
    """The asserted flags our result concludes otherwise, each with what we concluded."""
    ours = {flag: EXPECTED_CHECKS[flag](result) for flag in asserted_flags(expected)}
    return {flag: value for flag, value in ours.items() if value != expected[flag]}


def parse_clock(value: str) -> float:
    """An ISO 8601 instant as the vectors write it: `Z`, `+02:00`, `+0200` or no zone (UTC), any fraction digits."""
    match = _CLOCK.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise VectorFileError(f"unreadable VALIDATIONCLOCK {value!r}")
    text = match["base"].replace(" ", "T")
    if match["fraction"]:
        text += "." + match["fraction"][:6].ljust(6, "0")  # datetime holds microseconds
    zone = match["zone"]
    if zone and zone not in ("Z", "z"):
        digits = zone[1:].replace(":", "").ljust(4, "0")
        text += f"{zone[0]}{digits[:2]}:{digits[2:]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise VectorFileError(f"unreadable VALIDATIONCLOCK {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def load_vector(path: str | Path) -> Vector:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise VectorFileError(str(exc)) from None
    if not isinstance(data, dict):
        raise VectorFileError("not a JSON object")
    context = data.get("TESTCTX") or {}
    expected = data.get("EXPECTEDRESULTS") or {}
    if not isinstance(context, dict) or not isinstance(expected, dict):
        raise VectorFileError("TESTCTX and EXPECTEDRESULTS must be objects")

    text, cose = data.get("PREFIX"), None
    if not isinstance(text, str):
        text = DCC_PREFIX + data["BASE45"] if isinstance(data.get("BASE45"), str) else None
    if text is None and isinstance(data.get("COSE"), str):
        try:
            cose = bytes.fromhex(data["COSE"])
        except ValueError:
            raise VectorFileError("COSE is not hex") from None
    if text is None and cose is None:
        raise VectorFileError("no code (PREFIX, BASE45 or COSE)")

    clock = context.get("VALIDATIONCLOCK")
    now = parse_clock(clock) if clock is not None else time.time()  # no clock: now, as dgc-testdata does
    key = None
    if context.get("CERTIFICATE") is not None:
        try:
            der = base64.b64decode("".join(str(context["CERTIFICATE"]).split()), validate=True)
            key = trusted_key_from_certificate(der)
        except (binascii.Error, ValueError) as exc:
            raise VectorFileError(f"unreadable CERTIFICATE: {exc}") from None
    flags = {name: value for name, value in expected.items() if isinstance(value, bool)}
    return Vector(str(path), text, cose, now, key, flags)


def run_vector(vector: Vector, adapters: Sequence[FormatAdapter]) -> VectorResult:
    """Decode and verify one vector's code with its own clock and signer certificate."""
    adapter: FormatAdapter  # set before anything that raises CodeError (detect only reads a prefix)
    try:
        if vector.text is not None:
            detected = next((a for a in adapters if a.detect(vector.text)), None)
            if detected is None:
                return VectorResult(vector.path, unprefix=False, error="UNSUPPORTED_FORMAT")
            adapter = detected
            code = adapter.decode(vector.text)
        else:  # COSE only: below the prefix, base45 and zlib layers, so only the DCC adapter takes it
            dcc = next((a for a in adapters if isinstance(a, EuDccFormat)), None)
            if dcc is None:
                return VectorResult(vector.path, error="UNSUPPORTED_FORMAT")
            adapter = dcc
            code = dcc.decode_cose(vector.cose or b"")
    except CodeError as exc:
        stages: _Stages = _decode_stages(exc.code) if vector.text is not None else {}
        return VectorResult(vector.path, adapter.name, decode=False, error=exc.code, **stages)

    key = vector.key
    error = _verify_error(adapter, code, key, vector.now)
    undated = replace(key, not_before=None, not_after=None) if key is not None else None
    signature_good = _verify_error(adapter, code, undated, vector.now) not in SIGNER_ERRORS
    stages = _decode_stages(None) if vector.text is not None else {}
    return VectorResult(vector.path, adapter.name, decode=True, verify=signature_good,
                        signer_valid=_signer_valid(code, key, vector.now), key_usage=_key_usage(adapter, code, key),
                        expired=_expired(code, vector.now), error=error, **stages)


def _verify_error(adapter: FormatAdapter, code: DecodedCode, key: TrustedKey | None, now: float) -> str | None:
    """The adapter's verdict with `key` as the only trusted signer: None or the CodeError's code."""
    try:
        adapter.verify(code, lambda kid: key if key is not None and kid == key.kid else None, now)
    except CodeError as exc:
        return exc.code
    return None


def _signer_valid(code: DecodedCode, key: TrustedKey | None, now: float) -> bool | None:
    """Whether the code's signer certificate was inside its validity at `now` (None: no such signer)."""
    if key is None or code.kid != key.kid:
        return None
    try:
        check_key_validity(key, now)
    except CodeError:
        return False
    return True


def check_file(path: str | Path, adapters: Sequence[FormatAdapter]) -> VectorResult:
    """Load and run one file, and compare with its expected results; an unreadable file is a
    result too (error UNREADABLE_FILE)."""
    try:
        vector = load_vector(path)
    except VectorFileError:
        return VectorResult(str(path), error=UNREADABLE_FILE)
    result = run_vector(vector, adapters)
    return replace(result, disagrees=tuple(sorted(differences(result, vector.expected))))


class _Stages(TypedDict, total=False):
    unprefix: bool
    b45decode: bool
    compression: bool


def _decode_stages(error: str | None) -> _Stages:
    """Which transport stage decoding stopped at (None: it went through; the codes are shared by every format)."""
    if error in ("BAD_PREFIX", "UNSUPPORTED_FORMAT"):
        return {"unprefix": False}
    if error == "BAD_ENCODING":
        return {"unprefix": True, "b45decode": False}
    if error == "BAD_COMPRESSION":
        return {"unprefix": True, "b45decode": True, "compression": False}
    return {"unprefix": True, "b45decode": True, "compression": True}  # past zlib: COSE or claims, or done


def _key_usage(adapter: FormatAdapter, code: DecodedCode, key: TrustedKey | None) -> bool | None:
    read_type = getattr(adapter, "certificate_type", None)
    if key is None or read_type is None:
        return None
    return usage_allowed(key, read_type(code))


def _expired(code: DecodedCode, now: float) -> bool | None:
    if code.issued_at is None or code.expires_at is None:
        return None
    return time_error(code.issued_at, code.expires_at, now) is not None
