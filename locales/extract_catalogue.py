"""The gettext domain `catalogue`: the texts a citizen reads in the service catalogue.

    python locales/extract_catalogue.py extract       write locales/catalogue.pot
    python locales/extract_catalogue.py departments   set each department's English from its name_en

`extract` takes every text of the sample catalogue a reader is shown (item names, categories,
materials, legal basis, fees, FAQ, the titles and descriptions of item forms, life-event names and
descriptions, department names) and the guide's fixed labels, as app/services/catalogue/words.py lists them (`shown_texts`). Each msgid is the zh-Hans text; the comment
above it says where it is used. Run by `make i18n-update`, which then updates the three .po files
(`pybabel update -D catalogue`), mirrors zh_Hans (mirror_source.py) and runs `departments`: the
English of a department name is its `name_en` in the sample file, kept in one place.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

LOCALES = Path(__file__).resolve().parent
ROOT = LOCALES.parent
SAMPLE = ROOT / "app" / "services" / "catalogue" / "sample_catalogue.json"
WORDS = ROOT / "app" / "services" / "catalogue" / "words.py"
TEMPLATE = LOCALES / "catalogue.pot"
ENGLISH = LOCALES / "en" / "LC_MESSAGES" / "catalogue.po"


def template() -> Catalog:
    """The texts the API translates (app.services.catalogue.words.shown_texts), each msgid once."""
    sys.path.insert(0, str(ROOT))
    from app.services.catalogue.words import shown_texts

    catalog = Catalog(project="gov-app", copyright_holder="gov-app", fuzzy=False)
    for text, what in shown_texts(json.loads(SAMPLE.read_text(encoding="utf-8"))):
        if not text:
            continue
        location = ((WORDS if what == "guide label" else SAMPLE).relative_to(ROOT).as_posix(), 0)
        known = catalog.get(text)
        if known is None:
            catalog.add(text, locations=[location], auto_comments=[what])
        else:
            if location not in known.locations:
                known.locations.append(location)
            if what not in known.auto_comments:
                known.auto_comments.append(what)
    return catalog


def extract() -> int:
    catalog = template()
    with TEMPLATE.open("wb") as pot:
        write_po(pot, catalog, width=0, include_lineno=False)
    return len(catalog)


def departments() -> int:
    """Each department name's English in en/catalogue.po becomes its name_en; the number changed."""
    names = {d["name"]: d["name_en"] for d in json.loads(SAMPLE.read_text(encoding="utf-8"))["departments"]
             if d.get("name_en")}
    with ENGLISH.open("rb") as po:
        catalog = read_po(po, locale="en")
    changed = 0
    for message in catalog:
        if message.id in names and (message.string != names[message.id] or message.fuzzy):
            message.string = names[message.id]
            message.flags.discard("fuzzy")
            changed += 1
    with ENGLISH.open("wb") as po:
        write_po(po, catalog, width=0, include_lineno=False, include_previous=True)
    return changed


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "extract":
        print(f"{extract()} catalogue texts written to {TEMPLATE.relative_to(ROOT)}", file=sys.stderr)
    elif command == "departments":
        print(f"{departments()} department names set to their name_en in {ENGLISH.relative_to(ROOT)}", file=sys.stderr)
    else:
        sys.exit(__doc__)
