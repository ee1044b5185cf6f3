"""Catalogue search (事项搜索): Chinese text, pinyin and initials, synonyms, region, relevance then popularity.

Published items are held in a per-process index, reloaded when the shared version token in
the cache moves (as the partner trust list does), so every worker sees a publish or retire
at once while a search costs one cache read, not a database scan. The index is small: a
province's catalogue is a few thousand items, well within one worker's memory.

Matching is by substring on normalised text, which works for Chinese without a word
segmenter: a name contains the query (社保卡), or a query's pinyin (shebaoka) or initials
(sbk) are in a name's or alias's pinyin. An item's name in zh-Hant counts as one more alias
(社會保障卡); its English name is matched word by word (social security card, licen finds licence),
leaving out the little words (a, for, the) when the whole query matched nothing. Words of one synonym group (老年/长辈/老人) stand in
for each other. Nothing here builds SQL from the query, so there is nothing to inject.
"""

from __future__ import annotations

import functools
import re
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Iterable

from pydantic import BaseModel, Field
from pypinyin import lazy_pinyin

from app.cache import Cache
from app.clock import Clock

VERSION_KEY = "catalogue:search-version"
VERSION_TTL = 30 * 24 * 3600
INDEX_MAX_AGE = 300  # seconds: popularity counted by other workers shows in ranking within this long
MAX_QUERY_CHARS = 100  # after trimming; longer input is refused with a clear message
MAX_TERMS = 8
RESULT_LIMIT = 50
SUGGESTION_LIMIT = 5
SIMILARITY_CHARS = 20  # a typo is judged on the first letters: bounds the cost of fuzzy matching

# Groups of words people use for the same thing; any word in a group also finds the others.
SYNONYMS: tuple[tuple[str, ...], ...] = (
    ("老年", "长辈", "老人", "长者", "高龄", "敬老"),
    ("社保卡", "社会保障卡"),
    ("身份证", "居民身份证"),
    ("公积金", "住房公积金"),
    ("医保", "医疗保险"),
    ("户口", "户籍"),
    ("驾照", "驾驶证"),
    ("营业执照", "执照"),
    ("新生儿", "婴儿", "宝宝"),
    ("孩子", "小孩", "儿童", "少儿", "子女"),
    ("结婚", "婚姻登记", "领证"),
    ("去世", "死亡", "身后", "过世"),
    ("开公司", "企业设立", "公司注册"),
    ("残疾", "残障"),
)

# Bigrams so common in requests ("我想办理…") that they say nothing about what is wanted.
_FILLER_BIGRAMS = frozenset({"办理", "申请", "我想", "想办", "怎么", "如何", "在哪", "哪里", "需要", "可以", "一下", "查询"})
_WORD_CHARS = re.compile(r"[^0-9a-z\u3400-\u4dbf\u4e00-\u9fff]+")
# English words that say nothing about which item is wanted: left out of a query that has other words.
_ENGLISH_FILLER = frozenset({"a", "an", "the", "of", "for", "and", "or", "to", "in", "on", "at", "my", "your", "with",
                             "how", "do", "i", "can"})
ENGLISH_MIN_CHARS = 3  # a shorter English word (or word start) would find half the catalogue
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_ASCII_ALNUM = re.compile(r"^[0-9a-z]+$")


def normalise(text: str) -> str:
    """Full-width to half-width, lower case, everything but letters, digits and Han characters to spaces."""
    return _WORD_CHARS.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


@functools.lru_cache(maxsize=50_000)
def pinyin_of(text: str) -> tuple[str, str]:
    """(full pinyin, initials) of `text` without tones or spaces: 社保卡 -> ("shebaoka", "sbk")."""
    syllables = [s for s in lazy_pinyin(normalise(text), errors="ignore") if s.strip()]
    full = "".join(s.strip() for s in syllables)
    initials = "".join(s.strip()[0] for s in syllables if s.strip())
    return full.replace(" ", ""), initials.replace(" ", "")


def search_text(name: str, aliases: Iterable[str], faq: Iterable[dict]) -> str:
    """The stored search text of an item (ServiceItem.search_text): words, FAQ, pinyin and initials."""
    words = [name, *aliases]
    parts = [*words, *(f"{entry.get('q', '')} {entry.get('a', '')}" for entry in faq)]
    for word in words:
        parts.extend(pinyin_of(word))
    return " ".join(normalise(p) for p in parts if p).strip()


@functools.lru_cache(maxsize=4096)
def synonym_variants(term: str) -> tuple[str, ...]:
    """`term`, then the same term with each synonym swapped in (长辈证 -> 老年证, 老人证 …)."""
    variants = [term]
    for group in SYNONYMS:
        for word in group:
            if word in term:
                variants.extend(term.replace(word, other) for other in group if other != word)
    return tuple(dict.fromkeys(variants))


def _bigrams(text: str) -> set[str]:
    return {text[i:i + 2] for i in range(len(text) - 1)}


class ListedItem(BaseModel):
    """An item as a list of results names it: which one, whose, where and of what kind. The citizen API's
    summary of an item begins with these."""

    id: str
    name: str
    department: str
    department_id: str
    region_level: str
    region_code: str
    category: str


class IndexedItem(ListedItem):
    """What search needs of one published item, without an ORM object."""

    trips: int
    time_limit_days: int
    channels: list[str]
    popularity: int
    words: list[str] = Field(default_factory=list)  # name first, then aliases, normalised
    pinyins: list[tuple[str, str]] = Field(default_factory=list)  # (full, initials) per word
    faq_text: str = ""
    about: str = ""  # category and department, normalised
    bigrams: frozenset[str] = frozenset()  # of the name and aliases
    english: tuple[str, ...] = ()  # the words of the English name, normalised
    department_en: str | None = None  # the department's own English name, where it has one
    # "item" (a catalogue item) or "feature" (a function of the app itself, e.g. the elderly-mode
    # switch): a matching feature is listed before every item, as the thing the person was after.
    kind: str = "item"
    action: dict | None = None  # for a feature: how a client switches it on (method, path, body)

    @classmethod
    def build(cls, *, id: str, name: str, aliases: list[str], department: str, department_id: str,
              region_level: str, region_code: str, category: str, trips: int, time_limit_days: int,
              channels: list[str], popularity: int, faq: list[dict], kind: str = "item",
              action: dict | None = None, department_en: str | None = None, name_hant: str = "",
              name_en: str = "") -> "IndexedItem":
        """`name_hant` is matched as an alias (not by pinyin), `name_en` word by word."""
        words = [normalise(w) for w in [name, *aliases] if normalise(w)]
        if normalise(name_hant) and normalise(name_hant) not in words:
            words.append(normalise(name_hant))
        return cls(id=id, name=name, department=department, department_id=department_id, region_level=region_level,
                   region_code=region_code, category=category, trips=trips, time_limit_days=time_limit_days,
                   channels=list(channels), popularity=popularity, words=words,
                   pinyins=[pinyin_of(w) for w in [name, *aliases]],
                   faq_text=normalise(" ".join(f"{e.get('q', '')} {e.get('a', '')}" for e in faq)),
                   about=normalise(f"{category} {department}"),
                   bigrams=frozenset().union(*(_bigrams(w) for w in words)), kind=kind, action=action,
                   english=tuple(w for w in normalise(name_en).split() if not _CJK.search(w)),
                   department_en=department_en)

    def visible_in(self, region: str | None) -> bool:
        """A district sees its own items, its city's and the province's; nobody else's district."""
        if region is None:
            return True
        return self.region_code in {region, region[:4] + "00", region[:2] + "0000"}


@dataclass(frozen=True)
class Hit:
    item: IndexedItem
    score: float


@dataclass(frozen=True)
class SearchResult:
    hits: list[Hit]
    suggestions: list[IndexedItem]
    total: int


def _text_score(variant: str, item: IndexedItem) -> float:
    """How well one query word matches an item's own words: name above alias above FAQ."""
    name, aliases = item.words[0], item.words[1:]
    if variant == name:
        return 100
    if name.startswith(variant):
        return 80
    if variant in name:
        return 60
    if any(variant == a for a in aliases):
        return 70
    if any(variant in a for a in aliases):
        return 50
    if variant in item.about:
        return 15
    if variant in item.faq_text:
        return 12
    return 0


def _pinyin_score(term: str, item: IndexedItem) -> float:
    """Pinyin (shebaoka) or initials (sbk) against names and aliases; exact and prefix count most."""
    if len(term) < 2:
        return 0
    best = 0.0
    for position, (full, initials) in enumerate(item.pinyins):
        penalty = 0 if position == 0 else 8  # the name itself beats an alias
        if term == full or term == initials:
            best = max(best, 95 - penalty)
        elif full.startswith(term) or initials.startswith(term):
            best = max(best, 75 - penalty)
        elif term in full or (len(term) >= 3 and term in initials):
            best = max(best, 50 - penalty)
    return best


def _partial_score(term: str, item: IndexedItem) -> float:
    """A long Chinese request matches when it names an item's word (我想办理新生儿出生证明 holds 出生证明),
    or when most of its telling bigrams are in a name or alias."""
    if len(term) < 3:
        return 0
    contained = max((len(w) for w in item.words if len(w) >= 3 and w in term), default=0)
    if contained:
        return 30 + min(contained, 10)  # a longer named word is a surer sign
    wanted = _bigrams(term) - _FILLER_BIGRAMS
    if not wanted:
        return 0
    found = len(wanted & item.bigrams) / len(wanted)
    return 40 * found if found >= 0.5 else 0


def term_score(term: str, item: IndexedItem) -> float:
    best = 0.0
    for index, variant in enumerate(synonym_variants(term)):
        score = _text_score(variant, item) * (1 if index == 0 else 0.9)  # the word typed beats its synonym
        best = max(best, score)
    if _ASCII_ALNUM.match(term) and not term.isdigit():
        best = max(best, _pinyin_score(term, item))
        if (best == 0 and len(term) >= ENGLISH_MIN_CHARS and term not in _ENGLISH_FILLER
                and any(w.startswith(term) for w in item.english)):
            best = 40  # a word of the English name, below the item's own Chinese words
    if best == 0 and _CJK.search(term):
        best = _partial_score(term, item)
    return best


def similarity(query: str, item: IndexedItem) -> float:
    """How close a query that found nothing is to an item (for 您是不是要找): shared characters or pinyin."""
    if _CJK.search(query):
        chars = set(query.replace(" ", ""))
        # Dice coefficient over characters: 结昏登记 is close to 结婚登记 (0.75).
        return max(2 * len(chars & set(w)) / (len(chars) + len(set(w))) for w in item.words) if chars else 0
    # Dice coefficient over letter pairs: shebaokka is close to shebaoka (0.93), a typo costs little.
    wanted = _bigrams(query.replace(" ", "")[:SIMILARITY_CHARS])
    if not wanted:
        return 0
    return max(2 * len(wanted & _bigrams(text)) / (len(wanted) + len(_bigrams(text)) or 1)
               for pair in item.pinyins for text in pair)


class SearchIndex:
    """Published items of the catalogue, as search sees them, kept in step across workers."""

    def __init__(self, cache: Cache, clock: Clock) -> None:
        self.cache, self.clock = cache, clock
        self._version: str | None = None
        self._loaded_at = 0.0
        self._items: dict[str, IndexedItem] = {}

    async def changed(self) -> None:
        """Call after anything that changes what search shows: every worker reloads before its next search."""
        await self.cache.set(VERSION_KEY, uuid.uuid4().hex, ttl=VERSION_TTL)

    async def current(self, load) -> dict[str, IndexedItem]:
        """The index, reloaded with `load()` (an async callable returning IndexedItems) when the token moved
        or it is older than INDEX_MAX_AGE."""
        version = await self.cache.get(VERSION_KEY)
        if version is None:  # flushed or never set: reload, and agree on a new token
            await self.cache.set_if_absent(VERSION_KEY, uuid.uuid4().hex, ttl=VERSION_TTL)
            version = await self.cache.get(VERSION_KEY)
            self._version = None
        now = self.clock.timestamp()
        if version is None or version != self._version or now - self._loaded_at > INDEX_MAX_AGE:
            self._items = {item.id: item for item in await load()}
            self._version, self._loaded_at = version, now
        return self._items

    def bump(self, item_id: str, amount: int = 1) -> None:
        """A view counted in the database shows in this worker's ranking at once; others catch up on reload."""
        item = self._items.get(item_id)
        if item is not None:
            item.popularity += amount


def _without_english_filler(terms: list[str]) -> list[str]:
    """An English query without its little words (a, for, the); any other query as it is."""
    telling = [term for term in terms if term not in _ENGLISH_FILLER]
    english = any(term.isalpha() and term.isascii() and len(term) >= ENGLISH_MIN_CHARS for term in telling)
    return telling if english else terms


def _matching(items: list[IndexedItem], terms: list[str]) -> list[Hit]:
    """The items matching every one of `terms`, each with its score."""
    hits: list[Hit] = []
    if terms:
        for item in items:
            scores = [term_score(term, item) for term in terms]
            if all(scores):
                hits.append(Hit(item, sum(scores)))
    return hits


def search(items: Iterable[IndexedItem], query: str, region: str | None = None,
           limit: int = RESULT_LIMIT) -> SearchResult:
    """Items matching every word of `query` (already trimmed and bounded), best first, then most used.

    When nothing matches, `suggestions` holds the closest items by shared characters or pinyin,
    or the most used ones when nothing is close, so a person always has somewhere to go next.
    """
    visible = [item for item in items if item.visible_in(region)]
    terms = normalise(query).split()[:MAX_TERMS]
    hits = _matching(visible, terms)
    telling = _without_english_filler(terms)
    if not hits and telling != terms:  # "apply for a card": its little words, some of them pinyin (an, can), left out
        hits = _matching(visible, telling)
    # An app function named by exactly the words typed (one of its names) comes first; otherwise it ranks by fit
    # like an item, winning a tie, so a closer 办事 item still outranks it.
    typed = " ".join(terms)

    def named(item: IndexedItem) -> bool:
        return item.kind == "feature" and (typed in item.words or all(term in item.words for term in terms))

    hits.sort(key=lambda h: (not named(h.item), -h.score, h.item.kind != "feature", -h.item.popularity, h.item.id))
    if hits:
        return SearchResult(hits[:limit], [], len(hits))
    return SearchResult([], suggest(visible, " ".join(terms)), 0)


def suggest(items: list[IndexedItem], query: str) -> list[IndexedItem]:
    items = [item for item in items if item.kind == "item"]  # a feature is found by its words, not suggested
    by_popularity = sorted(items, key=lambda i: (-i.popularity, i.id))
    if not query:
        return by_popularity[:SUGGESTION_LIMIT]
    scored = [(similarity(query, item), item) for item in items]
    close = sorted((pair for pair in scored if pair[0] >= 0.5), key=lambda p: (-p[0], -p[1].popularity, p[1].id))
    return [item for _, item in close[:SUGGESTION_LIMIT]] or by_popularity[:SUGGESTION_LIMIT]
