"""The official EU DCC test vectors (dgc-testdata, copied to ../shared/interop/dcc next to the
repository), the vector runner with files written here, and `python -m health_code.interop`."""

from __future__ import annotations

import json
import subprocess
import sys
import zlib
from datetime import datetime, timezone
from pathlib import Path

import base45
import pytest

from health_code.interop import default_adapters
from health_code.interop.vectors import EXPECTED_CHECKS, UNREADABLE_FILE, check_file, load_vector, parse_clock
from tests.health_code.interop.dcc_signing import DAY, ISSUE, cwt, hcert, lab_test, make_signer, sign_hc1, vaccination, write_vector

REPO = Path(__file__).resolve().parents[3]
VECTORS = REPO.parent / "shared" / "interop" / "dcc"
FILES = sorted(VECTORS.rglob("*.json")) if VECTORS.is_dir() else []
needs_vectors = pytest.mark.skipif(not FILES, reason=f"EU DCC test vectors not found in {VECTORS} (the shared folder next to the repo)")


def _vector_id(path: Path) -> str:
    return path.relative_to(VECTORS).as_posix()


@needs_vectors
@pytest.mark.parametrize("path", FILES, ids=_vector_id)
def test_dcc_vector(path: Path):
    vector = load_vector(path)
    asserted = {flag: expected for flag, expected in vector.expected.items() if flag in EXPECTED_CHECKS}
    if not asserted:
        pytest.skip(f"asserts none of {sorted(EXPECTED_CHECKS)}")
    result = check_file(path, default_adapters())
    got = {flag: EXPECTED_CHECKS[flag](result) for flag in asserted}
    assert got == asserted, result


@needs_vectors
def test_the_vectors_are_all_there():
    """The copy holds 31 cases, 17 of them verifying; a lost folder must not pass silently."""
    assert len(FILES) == 31
    verifying = [p for p in FILES if load_vector(p).expected.get("EXPECTEDVERIFY") is True]
    assert len(verifying) == 17
    assert all(check_file(p, default_adapters()).verify for p in verifying)


@needs_vectors
@pytest.mark.parametrize("name, error", [
    ("common/CO3.json", None),
    ("common/CO5.json", "BAD_SIGNATURE"),
    ("common/CO16.json", "KEY_NOT_VALID"),  # its signer certificate starts with the code, in 2023
    ("common/CO22.json", "UNKNOWN_KID"),  # the protected kid wins, even beside the right unprotected one
    ("common/CO23.json", "UNKNOWN_KID"),
    ("common/CBO1.json", "BAD_CLAIMS"),
    ("common/CBO2.json", "BAD_COSE"),
    ("common/Z2.json", "BAD_COMPRESSION"),
    ("common/B1.json", "BAD_ENCODING"),
    ("common/H2.json", "UNSUPPORTED_FORMAT"),
    ("PL/6.json", "UNKNOWN_KID"),
])
def test_why_vectors_fail(name: str, error: str | None):
    assert check_file(VECTORS / name, default_adapters()).error == error


# --- the runner, with vectors written here -------------------------------------------------------


@pytest.mark.parametrize("clock, instant", [
    ("2026-05-28T20:26:40Z", ISSUE),
    ("2026-05-28T20:26:40.5Z", ISSUE + 0.5),
    ("2026-05-28T20:26:40.123456789Z", ISSUE + 0.123456),  # nanoseconds: trimmed to microseconds
    ("2026-05-28T20:26:40.1234567+00:00", ISSUE + 0.123456),
    ("2026-05-28T22:26:40+02:00", ISSUE),
    ("2026-05-28T22:26:40+0200", ISSUE),
    ("2026-05-28T18:26:40.000-02:00", ISSUE),
    ("2026-05-28T20:26:40", ISSUE),  # no zone: UTC
    ("2026-05-28T20:26:40.99953", ISSUE + 0.99953),
])
def test_parse_clock(clock: str, instant: float):
    assert parse_clock(clock) == pytest.approx(instant, abs=1e-6)
    assert datetime.fromtimestamp(parse_clock(clock), timezone.utc).year == 2026


def test_the_file_clock_decides_expiry_zone_included(tmp_path: Path):
    signer = make_signer()
    code = sign_hc1(cwt(iat=ISSUE, exp=ISSUE + DAY), signer)
    # exp is 2026-05-29T20:26:40Z. 21:26 at +02:00 is 19:26Z: still valid (read without the zone: expired).
    before = write_vector(tmp_path / "before.json", code, signer, "2026-05-29T21:26:40.000000000+0200")
    after = write_vector(tmp_path / "after.json", code, signer, "2026-05-29T20:26:41")  # a second after exp
    first, second = check_file(before, default_adapters()), check_file(after, default_adapters())
    assert (first.verify, first.expired, first.error) == (True, False, None)
    assert (second.verify, second.expired, second.error) == (True, True, "EXPIRED")


def test_the_file_certificate_is_the_trusted_signer(tmp_path: Path):
    signer, other = make_signer(), make_signer()
    code = sign_hc1(cwt(), signer)
    good = check_file(write_vector(tmp_path / "good.json", code, signer, "2026-05-29T00:00:00Z"), default_adapters())
    wrong = check_file(write_vector(tmp_path / "wrong.json", code, other, "2026-05-29T00:00:00Z"), default_adapters())
    assert (good.decode, good.verify, good.key_usage, good.error) == (True, True, True, None)
    assert (wrong.decode, wrong.verify, wrong.error) == (True, False, "UNKNOWN_KID")
    assert wrong.expired is False  # each check on its own, as the vectors ask


def test_the_signature_is_reported_apart_from_the_signer_certificate_validity(tmp_path: Path):
    """verify answers EXPECTEDVERIFY (the signature alone); signer_valid the certificate's dates at the clock."""
    later = make_signer(not_before=ISSUE + 2 * DAY, not_after=ISSUE + 30 * DAY)  # issued after the clock
    code = sign_hc1(cwt(iat=ISSUE, exp=ISSUE + 10 * DAY), later)
    early = check_file(write_vector(tmp_path / "early.json", code, later, "2026-05-29T00:00:00Z"), default_adapters())
    inside = check_file(write_vector(tmp_path / "inside.json", code, later, "2026-05-31T00:00:00Z"), default_adapters())
    assert (early.verify, early.signer_valid, early.expired, early.error) == (True, False, False, "KEY_NOT_VALID")
    assert (inside.verify, inside.signer_valid, inside.expired, inside.error) == (True, True, False, None)
    forged = sign_hc1(cwt(iat=ISSUE, exp=ISSUE + 10 * DAY), later, tamper=lambda p: p.replace(b"XA", b"XB"))
    bad = check_file(write_vector(tmp_path / "bad.json", forged, later, "2026-05-29T00:00:00Z"), default_adapters())
    assert (bad.verify, bad.signer_valid, bad.error) == (False, False, "KEY_NOT_VALID")


def test_key_usage_is_reported_on_its_own(tmp_path: Path):
    tests_only = make_signer(eku=("1.3.6.1.4.1.1847.2021.1.1",))
    vacc = check_file(write_vector(tmp_path / "v.json", sign_hc1(cwt(hcert(vaccination())), tests_only), tests_only,
                                   "2026-05-29T00:00:00Z"), default_adapters())
    test = check_file(write_vector(tmp_path / "t.json", sign_hc1(cwt(hcert(lab_test())), tests_only), tests_only,
                                   "2026-05-29T00:00:00Z"), default_adapters())
    assert (vacc.verify, vacc.key_usage, vacc.error) == (True, False, "KEY_USAGE")
    assert (test.verify, test.key_usage, test.error) == (True, True, None)


def test_unknown_keys_are_ignored_and_base45_or_cose_stand_in_for_prefix(tmp_path: Path):
    signer = make_signer()
    code = sign_hc1(cwt(), signer)
    path = write_vector(tmp_path / "extra.json", code, signer, "2026-05-29T00:00:00Z",
                        expected={"EXPECTEDVERIFY": True, "EXPECTEDVERFY": True}, meta={"anything": [1, 2]})
    assert check_file(path, default_adapters()).verify is True

    data = json.loads(path.read_text())
    data["BASE45"] = data.pop("PREFIX")[4:]
    path.write_text(json.dumps(data))
    assert check_file(path, default_adapters()).verify is True

    data["COSE"] = zlib.decompress(base45.b45decode(data.pop("BASE45"))).hex()
    path.write_text(json.dumps(data))
    result = check_file(path, default_adapters())
    assert (result.format, result.unprefix, result.decode, result.verify) == ("HC1", None, True, True)


@pytest.mark.parametrize("content", ["not json", "[1, 2]", '{"PREFIX": "HC1:x", "TESTCTX": {"VALIDATIONCLOCK": "yesterday"}}',
                                     '{"PREFIX": "HC1:x", "TESTCTX": {"CERTIFICATE": "bm90IGEgY2VydA=="}}', "{}"])
def test_unreadable_files(tmp_path: Path, content: str):
    path = tmp_path / "bad.json"
    path.write_text(content)
    result = check_file(path, default_adapters())
    assert result.error == UNREADABLE_FILE
    assert result.line() == {"file": str(path), "format": None, "decode": None, "verify": None, "signer_valid": None,
                             "expired": None, "error": UNREADABLE_FILE, "disagrees": None}


# --- the command line ----------------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "health_code.interop", "check", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def test_cli_prints_one_json_line_per_file(tmp_path: Path):
    signer = make_signer()
    good = write_vector(tmp_path / "good.json", sign_hc1(cwt(), signer), signer, "2026-05-29T00:00:00Z")
    expired = write_vector(tmp_path / "expired.json", sign_hc1(cwt(), signer), signer, "2027-01-01T00:00:00Z")
    other = write_vector(tmp_path / "other.json", "HC2:NCFOXN", signer, "2026-05-29T00:00:00Z")
    done = run_cli(str(good), str(expired), str(other))
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines == [
        {"file": str(good), "format": "HC1", "decode": True, "verify": True, "signer_valid": True, "expired": False,
         "error": None, "disagrees": []},
        {"file": str(expired), "format": "HC1", "decode": True, "verify": True, "signer_valid": True, "expired": True,
         "error": "EXPIRED", "disagrees": []},
        {"file": str(other), "format": None, "decode": None, "verify": None, "signer_valid": None, "expired": None,
         "error": "UNSUPPORTED_FORMAT", "disagrees": []},
    ]


@needs_vectors
def test_cli_over_the_official_vectors():
    valid, bad = VECTORS / "common" / "CO3.json", VECTORS / "common" / "CO5.json"
    done = run_cli(str(valid), str(bad))
    assert done.returncode == 0, done.stderr
    assert [json.loads(line) for line in done.stdout.splitlines()] == [
        {"file": str(valid), "format": "HC1", "decode": True, "verify": True, "signer_valid": True, "expired": False,
         "error": None, "disagrees": []},
        {"file": str(bad), "format": "HC1", "decode": True, "verify": False, "signer_valid": True, "expired": False,
         "error": "BAD_SIGNATURE", "disagrees": []},
    ]


def test_cli_missing_file_exits_2_and_still_reports_the_others(tmp_path: Path):
    signer = make_signer()
    good = write_vector(tmp_path / "good.json", sign_hc1(cwt(), signer), signer, "2026-05-29T00:00:00Z")
    missing = tmp_path / "nope.json"
    done = run_cli(str(missing), str(good))
    assert done.returncode == 2
    first, second = (json.loads(line) for line in done.stdout.splitlines())
    assert first == {"file": str(missing), "format": None, "decode": None, "verify": None, "signer_valid": None,
                     "expired": None, "error": "UNREADABLE_FILE", "disagrees": None}
    assert (second["file"], second["verify"], second["error"]) == (str(good), True, None)


def test_cli_names_the_expected_results_a_file_disagrees_with(tmp_path: Path):
    signer = make_signer()
    good = sign_hc1(cwt(), signer)
    agreeing = write_vector(tmp_path / "agreeing.json", good, signer, "2026-05-29T00:00:00Z",
                            expected={"EXPECTEDVERIFY": True, "EXPECTEDEXPIRATIONCHECK": True})
    wrong = write_vector(tmp_path / "wrong.json", good, signer, "2026-05-29T00:00:00Z",
                         expected={"EXPECTEDVERIFY": False, "EXPECTEDDECODE": True, "EXPECTEDKEYUSAGE": False})
    done = run_cli(str(agreeing), str(wrong))
    assert done.returncode == 0, done.stderr
    first, second = (json.loads(line) for line in done.stdout.splitlines())
    assert (first["disagrees"], second["disagrees"]) == ([], ["EXPECTEDKEYUSAGE", "EXPECTEDVERIFY"])
    assert done.stderr.strip() == "1 of 2 files agree with their expected results (50.0 %)"
