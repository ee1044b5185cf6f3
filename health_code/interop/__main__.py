"""`python -m health_code.interop check FILE.json...`: run test vectors (dgc-testdata layout).

Prints one JSON line per file: {"file", "format", "decode", "verify", "signer_valid", "expired",
"error", "disagrees"}: `verify` is the signature check alone, `signer_valid` whether the signer
certificate was inside its validity at the file's clock, `disagrees` the expected-result flags
the file asserts and we conclude otherwise. Then, on stderr, how many files agree.
Exit status 0 when every file could be read, 2 when some could not (their line says
"error": "UNREADABLE_FILE").
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from health_code.interop import default_adapters
from health_code.interop.vectors import UNREADABLE_FILE, check_file


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m health_code.interop", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="run test-vector files through the format adapters")
    check.add_argument("files", nargs="+", metavar="FILE.json")
    args = parser.parse_args(argv)

    adapters = default_adapters()
    unreadable = False
    agreeing = 0
    for path in args.files:
        result = check_file(path, adapters)
        unreadable |= result.error == UNREADABLE_FILE
        agreeing += result.disagrees == ()
        print(json.dumps(result.line(), ensure_ascii=False), flush=True)
    share = 100 * agreeing / len(args.files)
    print(f"{agreeing} of {len(args.files)} files agree with their expected results ({share:.1f} %)", file=sys.stderr)
    return 2 if unreadable else 0


if __name__ == "__main__":
    sys.exit(main())
