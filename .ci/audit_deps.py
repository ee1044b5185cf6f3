#!/usr/bin/env python3
"""Known vulnerabilities of the installed (or pinned) distributions, from PyPI's project JSON.

pip-audit cannot run here: PyPI's per-version JSON (/pypi/<name>/<version>/json) answers 404 and
api.osv.dev is unreachable. The project JSON (/pypi/<name>/json) does answer, with the latest
release (info.version) and PyPI's known vulnerabilities of that release (the PyPA advisory
database, via OSV). So:

- installed == latest: every vulnerability listed that is not withdrawn applies -> failure;
- installed != latest: PyPI cannot tell us about our exact version -> "not verifiable" (exit 0,
  exit 1 with --strict), and a failure for every vulnerability of the latest whose fixed_in has
  no version at or below ours (not fixed in ours either);
- PyPI does not know the distribution (404, a local package) -> skipped;
- PyPI unreachable or answering nonsense for any distribution -> exit 2: an audit that did not
  run must not pass.

An advisory judged not to apply can be accepted with --accepted FILE: one line per advisory,
`name==version ADVISORY-ID reason`, for that exact version only (an upgrade or another advisory fails
again); it is printed with its reason and not counted. A line without a reason is refused.

Exit codes: 0 clean, 1 vulnerable (or not verifiable with --strict), 2 audit incomplete (wins
over 1; everything found is still printed). Standard library only, Python 3.11.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.metadata
import json
import re
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_INDEX = "https://pypi.org/pypi"
USER_AGENT = "audit_deps/1 (project CI; stdlib urllib)"
RETRY_DELAY_S = 0.5

OK, VULNERABLE, NOT_VERIFIABLE, SKIPPED, UNREACHABLE = "ok", "vulnerable", "not verifiable", "skipped", "unreachable"


def normalise(name: str) -> str:
    """PEP 503 name."""
    return re.sub(r"[-_.]+", "-", name).lower()


# --- PEP 440 ordering (the subset PyPI accepts), so no dependency on `packaging` ---

_VERSION = re.compile(
    r"""^\s*v?(?:(?P<epoch>\d+)!)?(?P<release>\d+(?:\.\d+)*)
    (?:[-_.]?(?P<pre_l>alpha|beta|preview|pre|rc|a|b|c)[-_.]?(?P<pre_n>\d+)?)?
    (?:-(?P<post_n1>\d+)|[-_.]?(?P<post_l>post|rev|r)[-_.]?(?P<post_n2>\d+)?)?
    (?:[-_.]?(?P<dev_l>dev)[-_.]?(?P<dev_n>\d+)?)?
    (?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?\s*$""",
    re.VERBOSE | re.IGNORECASE,
)
_PRE_RANK = {"a": 0, "alpha": 0, "b": 1, "beta": 1, "c": 2, "rc": 2, "pre": 2, "preview": 2}


def version_key(version: str, *, public: bool = True) -> tuple | None:
    """A sortable key for a PEP 440 version (None if it is not one). public: ignore +local."""
    m = _VERSION.match(version)
    if not m:
        return None
    release = [int(p) for p in m["release"].split(".")]
    while len(release) > 1 and release[-1] == 0:
        release.pop()
    has_post = m["post_n1"] is not None or m["post_l"] is not None
    if m["pre_l"]:
        pre = (1, _PRE_RANK[m["pre_l"].lower()], int(m["pre_n"] or 0))
    elif m["dev_l"] and not has_post:
        pre = (0,)  # 1.0.dev1 sorts before 1.0a1
    else:
        pre = (2,)
    post = (1, int(m["post_n1"] or m["post_n2"] or 0)) if has_post else (0,)
    dev = (0, int(m["dev_n"] or 0)) if m["dev_l"] else (1,)
    local: tuple = ()
    if m["local"] and not public:
        local = tuple((1, int(p), "") if p.isdigit() else (0, 0, p.lower()) for p in re.split(r"[-_.]", m["local"]))
    return (int(m["epoch"] or 0), tuple(release), pre, post, dev, local)


def same_version(a: str, b: str) -> bool:
    ka, kb = version_key(a), version_key(b)
    return ka == kb if ka is not None and kb is not None else a.strip() == b.strip()


def fixed_at_or_below(fixed_in: list[str], ours: str) -> str | None:
    """A fixed_in version at or below ours, if any (then the fix is in ours)."""
    mine = version_key(ours)
    if mine is None:
        return None
    for fixed in fixed_in:
        key = version_key(str(fixed))
        if key is not None and key <= mine:
            return str(fixed)
    return None


# --- what to audit ---

_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*===?\s*(?P<version>[^\s;#]+)\s*(?:;.*)?$")


def read_pins(path: Path) -> dict[str, tuple[str, str]]:
    """name==version lines (extras, markers, comments and --hash options allowed) -> {normalised: (name, version)}."""
    text = path.read_text(encoding="utf-8").replace("\\\n", " ")
    pins: dict[str, tuple[str, str]] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = re.sub(r"(^|\s)#.*$", "", raw)
        line = re.sub(r"\s--hash[=\s]\S+", "", line).strip()
        if not line:
            continue
        m = _PIN.match(line)
        if not m:
            raise ValueError(f"{path}:{number}: not a name==version pin: {raw.strip()!r}")
        pins[normalise(m["name"])] = (m["name"], m["version"])
    return pins


def installed() -> dict[str, tuple[str, str]]:
    """Every distribution the running interpreter sees, first on sys.path winning (as import does)."""
    found: dict[str, tuple[str, str]] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found.setdefault(normalise(name), (name, dist.version))
    return found


# --- asking the index ---


class Unreachable(Exception):
    pass


class Transient(Exception):
    pass


def fetch_project(index_url: str, name: str, timeout: float) -> dict | None:
    """The project JSON, None on 404; one retry on a transient error, then Unreachable."""
    url = f"{index_url.rstrip('/')}/{name}/json"
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "application/json"})
    try:
        return _get_json(request, timeout)
    except Transient:
        time.sleep(RETRY_DELAY_S)
    try:
        return _get_json(request, timeout)
    except Transient as exc:
        raise Unreachable(f"{url}: {exc} (after one retry)") from None


def _get_json(request: urllib.request.Request, timeout: float) -> dict | None:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            body = reply.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        if exc.code == 429 or exc.code >= 500:
            raise Transient(f"HTTP {exc.code}") from None
        raise Unreachable(f"{request.full_url}: HTTP {exc.code}") from None
    except (OSError, http.client.HTTPException) as exc:  # URLError, timeouts, resets, truncated replies
        raise Transient(getattr(exc, "reason", None) or exc) from None
    try:
        data = json.loads(body)
        data["info"]["version"]
    except (ValueError, KeyError, TypeError):
        raise Unreachable(f"{request.full_url}: not a PyPI project JSON") from None
    return data


# --- the rules ---


@dataclass
class Finding:
    name: str
    installed: str
    status: str
    latest: str = ""
    vulns: list[dict] = field(default_factory=list)  # those that apply to ours
    notes: list[str] = field(default_factory=list)


def audit_one(index_url: str, name: str, version: str, timeout: float) -> Finding:
    try:
        project = fetch_project(index_url, normalise(name), timeout)
    except Unreachable as exc:
        return Finding(name, version, UNREACHABLE, notes=[str(exc)])
    if project is None:
        return Finding(name, version, SKIPPED, notes=["not on the index (a local package?)"])
    latest = str(project["info"]["version"])
    listed = [v for v in project.get("vulnerabilities") or [] if not v.get("withdrawn")]
    if same_version(version, latest):
        return Finding(name, version, VULNERABLE if listed else OK, latest, listed)
    finding = Finding(name, version, NOT_VERIFIABLE, latest)
    for vuln in listed:
        fixed = fixed_at_or_below([str(f) for f in vuln.get("fixed_in") or []], version)
        if fixed is None:
            finding.vulns.append(vuln)
        else:
            finding.notes.append(f"{vuln.get('id')} (listed for {latest}) is fixed in {fixed} <= {version}: not counted")
    if finding.vulns:
        finding.status = VULNERABLE
    return finding


Accepted = dict[tuple[str, str], dict[str, str]]  # (name, version) -> advisory id -> reason


def read_accepted(path: Path) -> Accepted:
    """`name==version ADVISORY-ID reason` lines (# comments, blank lines skipped); ValueError on a bad line."""
    accepted: Accepted = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split(None, 2)
        pin = parts[0].split("==") if parts else []
        if len(parts) < 3 or len(pin) != 2 or not all(pin):
            raise ValueError(f"{path}:{number}: expected 'name==version ADVISORY-ID reason', got {raw.strip()!r}")
        accepted.setdefault((normalise(pin[0]), pin[1]), {})[parts[1]] = parts[2]
    return accepted


def set_aside_accepted(finding: Finding, accepted: Accepted) -> None:
    """Move the advisories accepted for this exact version out of `finding.vulns`, into its notes."""
    reasons = next((r for (name, version), r in accepted.items()
                    if name == normalise(finding.name) and same_version(version, finding.installed)), {})
    kept = []
    for vuln in finding.vulns:
        ids = [vuln.get("id"), *(vuln.get("aliases") or [])]
        reason = next((reasons[i] for i in ids if i in reasons), None)
        if reason is None:
            kept.append(vuln)
        else:
            finding.notes.append(f"accepted {vuln.get('id')}: {reason}")
    finding.vulns = kept
    if finding.status == VULNERABLE and not kept:
        finding.status = OK if same_version(finding.installed, finding.latest) else NOT_VERIFIABLE


def describe(vuln: dict) -> str:
    summary = (vuln.get("summary") or vuln.get("details") or "").strip().splitlines()
    aliases = ", ".join(vuln.get("aliases") or []) or "no aliases"
    fixed = ", ".join(str(f) for f in vuln.get("fixed_in") or []) or "no fix released"
    first = summary[0] if summary else "(no summary)"
    return f"{vuln.get('id', '?')} ({aliases}): {first} [fixed in: {fixed}]"


def print_finding(f: Finding, out) -> None:
    if f.status == VULNERABLE:
        behind = "" if same_version(f.installed, f.latest) else (
            f" (not verifiable: {f.installed} installed, {f.latest} latest; listed for {f.latest}, not fixed in ours either)")
        print(f"VULNERABLE: {f.name} {f.installed}{behind}", file=out)
        for vuln in f.vulns:
            print(f"    {describe(vuln)}", file=out)
    elif f.status == NOT_VERIFIABLE:
        print(f"not verifiable: {f.name} {f.installed} installed, {f.latest} latest", file=out)
    elif f.status != OK:
        print(f"{f.status}: {f.name} {f.installed}", file=out)
    elif f.notes:  # an accepted advisory
        print(f"ok: {f.name} {f.installed}", file=out)
    for note in f.notes:
        print(f"    {note}", file=out)


def report(findings: list[Finding], strict: bool, out=sys.stdout) -> int:
    for status in (VULNERABLE, UNREACHABLE, NOT_VERIFIABLE, SKIPPED, OK):
        for f in findings:
            if f.status == status and (status != OK or f.notes):
                print_finding(f, out)
    count = {s: sum(1 for f in findings if f.status == s) for s in (OK, VULNERABLE, UNREACHABLE, NOT_VERIFIABLE, SKIPPED)}
    behind = sum(1 for f in findings if f.latest and not same_version(f.installed, f.latest))
    rows = [
        ("distributions audited", len(findings)),
        ("at latest, no known vuln", count[OK]),
        ("vulnerable", count[VULNERABLE]),
        ("behind latest (not verifiable)", behind),
        ("skipped (not on the index)", count[SKIPPED]),
        ("unreachable", count[UNREACHABLE]),
    ]
    print("", file=out)
    for label, number in rows:
        print(f"  {label:<32}{number:>4}", file=out)
    if count[UNREACHABLE]:
        print("FAIL: the index could not be asked about every distribution; the audit is incomplete", file=out)
        return 2
    if count[VULNERABLE]:
        print("FAIL: known vulnerabilities", file=out)
        return 1
    if behind and strict:
        print("FAIL (--strict): distributions behind their latest release cannot be verified", file=out)
        return 1
    print("PASS" + (" (behind latest: not verifiable here; --strict fails on them)" if behind else ""), file=out)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requirements", action="append", type=Path, metavar="FILE",
                        help="audit these name==version pins instead of this interpreter's distributions (repeatable)")
    parser.add_argument("--index-url", default=DEFAULT_INDEX, help=f"project JSON base URL (default {DEFAULT_INDEX})")
    parser.add_argument("--strict", action="store_true", help="fail on distributions behind their latest release")
    parser.add_argument("--jobs", type=int, default=8, help="parallel requests (default 8)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request (default 10)")
    parser.add_argument("--accepted", type=Path, metavar="FILE",
                        help="advisories judged not to apply: lines of 'name==version ADVISORY-ID reason'")
    args = parser.parse_args(argv)
    try:
        accepted = read_accepted(args.accepted) if args.accepted else {}
    except (OSError, ValueError) as exc:
        print(f"FAIL: {exc}", file=sys.stderr)
        return 2

    if args.requirements:
        targets: dict[str, tuple[str, str]] = {}
        try:
            for path in args.requirements:
                targets.update(read_pins(path))
        except (OSError, ValueError) as exc:
            print(f"FAIL: {exc}", file=sys.stderr)
            return 2
        source = ", ".join(str(p) for p in args.requirements)
    else:
        targets = installed()
        source = f"installed in {sys.executable}"
    if not targets:
        print(f"FAIL: nothing to audit in {source}", file=sys.stderr)
        return 2
    print(f"Auditing {len(targets)} distributions ({source}) against {args.index_url}", flush=True)
    with ThreadPoolExecutor(max_workers=max(1, min(args.jobs, 32))) as pool:
        findings = list(pool.map(lambda item: audit_one(args.index_url, *item, args.timeout),
                                 (targets[key] for key in sorted(targets))))
    for finding in findings:
        set_aside_accepted(finding, accepted)
    return report(findings, args.strict)


if __name__ == "__main__":
    sys.exit(main())
