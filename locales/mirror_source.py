"""Fill the zh_Hans catalog from its msgids: zh-Hans is the source language, so each of its
translations is the msgid itself. Run by `make i18n-update` after `pybabel update`, which leaves
new entries empty and reworded ones fuzzy; `mirror_source.py catalogue` does the same for the
catalogue domain."""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

SOURCE = Path(__file__).resolve().parent / "zh_Hans" / "LC_MESSAGES" / "messages.po"


def source_of(domain: str) -> Path:
    return SOURCE.with_name(f"{domain}.po")


def mirror(path: Path = SOURCE) -> int:
    """Set every message of `path` to its msgid, unflagged; the number changed."""
    with path.open("rb") as po:
        catalog = read_po(po, locale="zh_Hans")
    changed = 0
    for message in catalog:
        if message.id and (message.string != message.id or message.fuzzy):
            message.string = message.id
            message.flags.discard("fuzzy")
            changed += 1
    with path.open("wb") as po:
        write_po(po, catalog, width=0, include_previous=False)
    return changed


if __name__ == "__main__":
    path = source_of(sys.argv[1]) if len(sys.argv) > 1 else SOURCE
    print(f"{mirror(path)} zh_Hans {path.stem} texts set to their source text", file=sys.stderr)
