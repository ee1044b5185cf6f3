"""A/B benchmark: the service at an older git revision (A) against the working tree (B), served at
the same minutes, so that the drifting speed of a shared machine does not pass for a difference.

    .venv/bin/python -m bench.ab BASE_REV [--seconds 5] [--rounds 6] [--paths health_code_json,...]

What it measures, each figure a ratio to a baseline measured in the same round, as `make bench`
(bench/suite.py) reports it, one worker on PostgreSQL + Redis:

- `health_code_json`: GET /api/v1/health-code at 64 connections / the bare Sanic handler
  (bench/bare_sanic.py) measured right before it;
- `partner_batch`: partner batches of 100 codes we issued (recognised in the cache), 4 connections,
  codes/s / raw ES256 verify on the server's core measured right before and after;
- `partner_batch_signature`: the same with 100 codes in no cache a request (every signature checked);
- `single_verification`, `voucher_redemption`, `token_refresh`: the write paths, each request a new
  one-time token, req/s / the bare handler measured right before (their set-up, such as making the
  voucher tokens or signing the refresh chains' phones in, is done before both).

How: BASE_REV is checked out in a git worktree (/tmp/ab-base-<hash>, removed at the end). Both services
start once, each with a database and Redis namespace of its own, and run with this `.venv`; A's
processes get PYTHONPATH=<worktree> and PYTHONSAFEPATH=1, so every `python -m app` of A (the server,
and `clients add` during set-up) imports the old code wherever it starts. As in the suite, with two
cores the servers and the bare handler run on core 1, the load, PostgreSQL and Redis on core 0. Each
round measures every path on both sides back to back, in the order A B, then B A, then A B ... (ABBA):
a steady drift of the machine's speed favours A in one round and B in the next, and cancels.

How to read it: per path, each round's ratio for A and for B, their medians, and B/A of the medians
with the spread of B/A over the rounds (each round's A and B were measured within seconds of each
other). If the spread straddles 1, the difference is within this run's noise. If every round's B/A
is on the same side of 1, it is beyond noise ("B faster" / "B slower") when that is unlikely by
chance: 2 in 2^rounds, 1 in 32 with 6 rounds (with fewer than 6 the verdict says "too few rounds").

A run of the first three paths (5 s, 6 rounds) takes about 9 minutes on two cores: under a minute of
set-up, then some 75 s a round. Results: bench/results/ab-latest.md and .json; server logs:
bench/results/ab-server-A.log and -B.log.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import math
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from bench import _load
from bench import voucher_redemption as voucher_bench
from bench._load import ROOT, LoadResult, call_json, free_port, get_load, running, sign_in, stand_ins, verify_identity
from bench.suite import (CONNECTIONS, RESULTS, PartnerBench, Scanner, add_scanner, backend, backing_services_on,
                         headline, partner_rounds, pin, service_env, single_verifications, token_refreshes,
                         voucher_redemptions)

WORKTREES = Path("/tmp")
PATHS = {  # what is compared, as bench/suite.py names and measures it
    "health_code_json": "GET /api/v1/health-code, 64 connections, / bare Sanic handler",
    "partner_batch": "100 codes we issued a request (in the cache), 4 connections, / raw ES256 verify",
    "partner_batch_signature": "100 codes in no cache a request (every signature checked), / raw ES256 verify",
    "single_verification": "a venue scanner checks one code a request, 16 connections, / bare Sanic handler",
    "voucher_redemption": "a hotel redeems a new ID-voucher presentation a request, 8 connections, / bare Sanic handler",
    "token_refresh": "16 refresh-token chains, each token used once, / bare Sanic handler",
}
SERVER_CORE, LOAD_CORE = 1, 0  # as bench/suite.py places them with one worker
CHANCE = 0.05  # the most a verdict's "every round agrees" may be likely by chance alone


# -- the two sides -------------------------------------------------------------------------------


@dataclass
class Side:
    """One service under test: A (BASE_REV, from the worktree) or B (the working tree)."""

    label: str
    rev: str  # short hash; B's says "+changes" when the working tree differs from HEAD
    root: Path  # where its code is
    port: int = 0
    backend: str = ""
    auth: dict[str, str] = field(default_factory=dict)
    partner: PartnerBench | None = None
    cli_env: dict[str, str] = field(default_factory=dict)  # for `python -m app clients add` against it
    data_dir: str = ""
    scanner: Scanner | None = None
    chains_made: int = 0  # sets of refresh-token chains signed in so far (each set uses new phones)


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()


def working_tree_rev() -> str:
    """HEAD's short hash, with "+changes" when tracked files differ from it (B is what is on disk)."""
    changed = git("status", "--porcelain", "--untracked-files=no")
    return git("rev-parse", "--short", "HEAD") + ("+changes" if changed else "")


@contextmanager
def base_worktree(rev: str) -> Iterator[Side]:
    """BASE_REV checked out in a detached worktree for the length of the block, then removed."""
    try:
        short = git("rev-parse", "--short", f"{rev}^{{commit}}")
    except subprocess.CalledProcessError:
        raise SystemExit(f"not a revision of this repository: {rev}") from None
    path = WORKTREES / f"ab-base-{short}"
    if path.exists():  # left by a run that was killed (SIGKILL skips clean-up)
        raise SystemExit(f"{path} exists already: remove it with `git worktree remove --force {path}`")
    git("worktree", "add", "--detach", str(path), rev)
    try:
        yield Side("A", short, path)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, check=False)


def code_env(side: Side) -> dict[str, str]:
    """Environment that makes `python -m app` import `side`'s code, whatever the folder it starts in
    (add_client starts `clients add` in this checkout): its root first on the path, the folder not."""
    if side.root == ROOT:
        return {}
    return {"PYTHONPATH": str(side.root), "PYTHONSAFEPATH": "1"}


def check_code_root(side: Side) -> None:
    """Fail early, not with a wrong comparison, if `side`'s processes would import the other code."""
    env = {**os.environ, **code_env(side)}
    found = subprocess.run([sys.executable, "-c", "import app, pathlib; print(pathlib.Path(app.__file__).parent.parent)"],
                           cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout.strip()
    if Path(found).resolve() != side.root.resolve():
        raise RuntimeError(f"side {side.label} imports app from {found}, not {side.root}")


def serve(stack: ExitStack, side: Side) -> subprocess.Popen:
    """`python -m app`, one worker, on a database and Redis namespace of its own, set up with a
    citizen and a partner as the suite does; it stops when `stack` closes, before its database goes."""
    backing = stack.enter_context(backend())
    data_dir = stack.enter_context(tempfile.TemporaryDirectory())
    # a run of every path outlasts an access token's default 15 minutes
    env = {**service_env(data_dir, backing), **code_env(side), "APP_ACCESS_TOKEN_TTL": "7200",
           "APP_FACE_DAILY_ATTEMPTS": "100"}  # a face check before each round's voucher tokens
    side.backend = "PostgreSQL + Redis" if backing.get("APP_REDIS_URL") else "SQLite + in-memory cache"
    side.port = free_port()
    RESULTS.mkdir(exist_ok=True)
    log = RESULTS / f"ab-server-{side.label}.log"  # ignored by git (*.log): what to read when a side fails
    log.unlink(missing_ok=True)
    # The outside parties' stand-ins come from this checkout for both sides (a side older than them ignores
    # the settings that point at them).
    pointed = stack.enter_context(stand_ins(side.port, data_dir, service_env(data_dir, backing)))
    try:
        server = stack.enter_context(running(["-m", "app", "--port", str(side.port)], {**env, **pointed}, side.port,
                                             log=log, root=side.root))
    except RuntimeError as exc:
        raise RuntimeError(f"{exc}: side {side.label} ({side.rev}), see {log}") from exc
    token = sign_in(side.port)
    verify_identity(side.port, token)
    side.auth = {"Authorization": f"Bearer {token}"}
    side.cli_env, side.data_dir = {**os.environ, **env}, data_dir
    side.partner = PartnerBench.register(side.port, side.cli_env, data_dir)
    side.scanner = add_scanner(side.cli_env, data_dir)
    return server


@contextmanager
def placed(servers: list[subprocess.Popen]) -> Iterator[None]:
    """With two cores or more, as the suite does for one worker: the servers on one core, this process
    (the load), PostgreSQL and Redis on another, so the load and the worker do not take turns."""
    if len(os.sched_getaffinity(0)) < 2:
        yield
        return
    everywhere = os.sched_getaffinity(0)
    for server in servers:
        pin(server, {SERVER_CORE})
    os.sched_setaffinity(0, {LOAD_CORE})
    _load.LOAD_CPUS = {LOAD_CORE}
    try:
        with backing_services_on({LOAD_CORE}):
            yield
    finally:
        os.sched_setaffinity(0, everywhere)
        _load.LOAD_CPUS = None


# -- what is measured ----------------------------------------------------------------------------


@dataclass
class Figure:
    """One path on one side in one round: its rate and the baseline measured beside it."""

    rate: float
    baseline: float

    @property
    def ratio(self) -> float:
        return self.rate / self.baseline


Measure = Callable[[Side], Figure]


def measures(bare_port: int, seconds: float, tokens_per_second: int = 1000) -> dict[str, Measure]:
    """One round of each path, by the suite's own functions (asked for one round each)."""

    def health_code_json(side: Side) -> Figure:
        bare, ours, _ = headline(side.port, bare_port, side.auth, seconds, times=1)
        return Figure(ours.rate, bare.rate)

    def partner(call: str) -> Measure:
        def measure(side: Side) -> Figure:
            assert side.partner is not None
            side.partner.renew(side.port)  # the codes of a round more than 180 s after the first have lapsed
            result, raw, _ = partner_rounds(getattr(side.partner, call), side.port, seconds, times=1)
            return Figure(result.rate, raw)

        return measure

    def write_path(prepare: Callable[[Side], Callable[[], LoadResult]]) -> Measure:
        """Set-up first (tokens, sign-ins), then the bare handler and the path back to back."""

        def measure(side: Side) -> Figure:
            load = prepare(side)
            bare = get_load(bare_port, "/ping", {}, seconds, CONNECTIONS)
            return Figure(load().rate, bare.rate)

        return measure

    def single_verification(side: Side) -> Callable[[], LoadResult]:
        assert side.partner is not None and side.scanner is not None
        side.partner.renew(side.port)
        return lambda: single_verifications(side.port, side.scanner, side.partner, seconds)

    def voucher_redemption(side: Side) -> Callable[[], LoadResult]:
        # a new hotel each round: the older side's per-hotel limit (3000 a minute) is no setting to lift
        hotel = voucher_bench.register_hotel(side.cli_env, side.data_dir)
        citizen = side.auth["Authorization"].removeprefix("Bearer ")
        # a voucher is issued after a recent face check, as on a phone
        call_json(side.port, "POST", "/api/v1/me/identity/face", citizen,
                  {"liveness_sample": base64.b64encode(os.urandom(4096)).decode()})
        # one worker redeems under 1000 a second here; making the suite's 1500 took long enough under load
        # for the first tokens to lapse (on a busier machine, fewer still: --tokens-per-second)
        return voucher_redemptions(side.port, citizen, hotel, seconds, per_second=tokens_per_second)

    def token_refresh(side: Side) -> Callable[[], LoadResult]:
        side.chains_made += 1
        return token_refreshes(side.port, seconds, first=9000 + 16 * side.chains_made)

    return {"health_code_json": health_code_json, "partner_batch": partner("known_call"),
            "partner_batch_signature": partner("cold_call"), "single_verification": write_path(single_verification),
            "voucher_redemption": write_path(voucher_redemption), "token_refresh": write_path(token_refresh)}


def abba(rounds: int) -> list[tuple[str, str]]:
    """The order of the sides in each round: A B, B A, A B, ..."""
    return [("A", "B") if i % 2 == 0 else ("B", "A") for i in range(rounds)]


def run_rounds(sides: dict[str, Side], paths: dict[str, Measure], rounds: int) -> dict[str, dict[str, list[Figure]]]:
    """path -> side -> its figure in each round; a path's two sides are measured back to back."""
    figures: dict[str, dict[str, list[Figure]]] = {path: {"A": [], "B": []} for path in paths}
    started = time.monotonic()
    for number, order in enumerate(abba(rounds), 1):
        for path, measure in paths.items():
            for label in order:
                figure = measure(sides[label])
                figures[path][label].append(figure)
                print(f"{time.monotonic() - started:5.0f} s  round {number}/{rounds}  {path:<24} {label}  "
                      f"{figure.ratio:.3f}  ({figure.rate:,.0f} / {figure.baseline:,.0f})", flush=True)
    return figures


# -- the report ----------------------------------------------------------------------------------


@dataclass
class Comparison:
    """One path: each side's ratios by round, their medians, and B/A of each round's pair."""

    path: str
    what: str
    a: list[float]
    b: list[float]
    a_rates: list[tuple[float, float]]  # (rate, baseline) by round, to see which of the two moved
    b_rates: list[tuple[float, float]]
    a_median: float = 0.0
    b_median: float = 0.0
    b_over_a: float = 0.0  # of the medians
    pairs: list[float] = field(default_factory=list)  # B/A in each round
    verdict: str = ""

    def __post_init__(self) -> None:
        self.a_median, self.b_median = statistics.median(self.a), statistics.median(self.b)
        if not all(self.a) or not all(self.b):  # a round served nothing: no ratio means anything
            self.b_over_a, self.pairs, self.verdict = math.nan, [math.nan], "a round served nothing: see its log"
            return
        self.b_over_a = self.b_median / self.a_median
        self.pairs = [b / a for a, b in zip(self.a, self.b)]
        if min(self.pairs) <= 1 <= max(self.pairs):
            self.verdict = "within noise"
        else:
            # with no difference, each round's B/A is as likely above 1 as below: all on one side, 2 / 2^n
            self.verdict = "B faster" if min(self.pairs) > 1 else "B slower"
            if 2 / 2 ** len(self.pairs) > CHANCE:
                self.verdict += f"? (too few rounds to tell: {len(self.pairs)})"


@dataclass
class Report:
    started_at: str
    base: str  # A: short hash
    base_rev: str  # A as given, e.g. HEAD~3
    new: str  # B: short hash of HEAD, "+changes" when the working tree differs
    backend: str
    seconds: float
    rounds: int
    order: str
    load_generator: str
    comparisons: list[Comparison]


def compare(figures: dict[str, dict[str, list[Figure]]]) -> list[Comparison]:
    return [Comparison(path, PATHS[path], [f.ratio for f in by_side["A"]], [f.ratio for f in by_side["B"]],
                       [(f.rate, f.baseline) for f in by_side["A"]], [(f.rate, f.baseline) for f in by_side["B"]])
            for path, by_side in figures.items()]


def markdown(report: Report) -> str:
    rounds = range(1, report.rounds + 1)
    lines = [f"# A/B benchmark {report.started_at}: A = {report.base} ({report.base_rev}), B = {report.new} "
             "(working tree)", "",
             f"{report.backend}, 1 worker each, {report.seconds:g} s a figure, {report.rounds} rounds in the order "
             f"{report.order}; load: {report.load_generator}. Each figure is a ratio to its baseline measured in "
             f"the same round. B/A is beyond noise when every round's B/A is on the same side of 1 and that is unlikely "
             f"by chance (2 in 2^rounds ≤ {CHANCE}).", "",
             "| path | side | " + " | ".join(f"round {n}" for n in rounds) + " | median |",
             "| --- | --- | " + " | ".join("---" for _ in rounds) + " | --- |"]
    for c in report.comparisons:
        lines.append(f"| {c.path} | A {report.base} | " + " | ".join(f"{r:.3f}" for r in c.a) + f" | {c.a_median:.3f} |")
        lines.append(f"| | B {report.new} | " + " | ".join(f"{r:.3f}" for r in c.b) + f" | {c.b_median:.3f} |")
        lines.append("| | B/A | " + " | ".join(f"{r:.3f}" for r in c.pairs) + f" | {c.b_over_a:.3f} |")
    lines += ["", "| path | A median | B median | B/A of medians | B/A by round, min – max | verdict |",
              "| --- | --- | --- | --- | --- | --- |"]
    for c in report.comparisons:
        lines.append(f"| {c.path} | {c.a_median:.3f} | {c.b_median:.3f} | {c.b_over_a:.3f} | "
                     f"{min(c.pairs):.3f} – {max(c.pairs):.3f} | {c.verdict} |")
    lines += ["", *(f"- `{c.path}`: {c.what}" for c in report.comparisons)]
    return "\n".join(lines) + "\n"


def write(report: Report) -> str:
    text = markdown(report)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ab-latest.md").write_text(text)
    (RESULTS / "ab-latest.json").write_text(json.dumps(asdict(report), ensure_ascii=False, indent=2) + "\n")
    return text


# -- the run -------------------------------------------------------------------------------------


def stop_on_signals() -> None:
    """Ctrl-C, SIGTERM and SIGHUP end the run through every `finally`: servers stop, databases are dropped
    and the worktree goes. (SIGINT is set too: a script's background job starts with it ignored.)"""

    def stop(number: int, _frame: object) -> None:
        print(f"\n{signal.Signals(number).name}: stopping the servers, dropping the databases, removing the worktree",
              file=sys.stderr, flush=True)
        if number == signal.SIGINT:
            raise KeyboardInterrupt
        sys.exit(128 + number)

    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, stop)


def main(base_rev: str, seconds: float, rounds: int, wanted: list[str], tokens_per_second: int = 1000) -> int:
    stop_on_signals()
    started_at, started = datetime.now(timezone.utc).isoformat(timespec="seconds"), time.monotonic()
    if unknown := set(wanted) - set(PATHS):
        raise SystemExit(f"unknown paths: {', '.join(sorted(unknown))} (known: {', '.join(PATHS)})")
    with ExitStack() as stack:  # closed in reverse: servers, then databases, then the worktree
        base = stack.enter_context(base_worktree(base_rev))
        new = Side("B", working_tree_rev(), ROOT)
        for side in (base, new):
            check_code_root(side)
        bare_port = free_port()
        bare = stack.enter_context(running(["-m", "bench.bare_sanic", str(bare_port)], {}, bare_port))
        servers = [bare, *(serve(stack, side) for side in (base, new))]
        print(f"A = {base.rev} on port {base.port}, B = {new.rev} on port {new.port}, bare handler on {bare_port}; "
              f"set up in {time.monotonic() - started:.0f} s", flush=True)
        paths = {path: measure for path, measure in measures(bare_port, seconds, tokens_per_second).items() if path in wanted}
        with placed(servers):
            figures = run_rounds({"A": base, "B": new}, paths, rounds)
        print(f"measured; stopping the servers ({time.monotonic() - started:.0f} s so far)", flush=True)
    report = Report(started_at, base.rev, base_rev, new.rev, new.backend, seconds, rounds,
                    " ".join("".join(order) for order in abba(rounds)),
                    "h2load (GETs) + asyncio (POSTs)" if _load.H2LOAD else "asyncio",
                    compare(figures))
    print(write(report))
    print(f"done in {time.monotonic() - started:.0f} s")
    return 0


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__.split("\n\n")[0])
    parser.add_argument("base_rev", help="git revision of A (B is the working tree), e.g. HEAD~3")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of one figure (default 5)")
    parser.add_argument("--rounds", type=int, default=6, help="rounds per side, alternating ABBA (default 6)")
    parser.add_argument("--paths", default=",".join(PATHS),
                        help=f"comma-separated paths to compare (default: all {len(PATHS)})")
    parser.add_argument("--tokens-per-second", type=int, default=1000,
                        help="voucher tokens made per second of load (default 1000; fewer on a busy machine, "
                             "where making them takes longer than their 180 s)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse(sys.argv[1:])
    try:
        sys.exit(main(args.base_rev, args.seconds, args.rounds, args.paths.split(","), args.tokens_per_second))
    except KeyboardInterrupt:  # cleaned up on the way out; no traceback to read
        sys.exit(130)
