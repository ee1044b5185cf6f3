"""Words that can be heard (可朗读文本, `tts_text`): text turned into plain spoken language.

A screen reader or a speech synthesiser reads digits and symbols badly: "2026-12-01" comes out
as a subtraction, "138****8000" as "one hundred thirty-eight star star…". `spoken(text, language)`
is the one place where numbers and symbols of spoken text become words, in zh-Hans, zh-Hant or
en; every `tts_text` goes through it.

    2026-12-01            -> 二〇二六年十二月一日        / the first of December two thousand twenty six
    13800138000           -> 一三八 〇〇一三 八〇〇〇    / one three eight, zero zero one three, ...
    020-12345678          -> 〇二〇 一二三四 五六七八    / zero two zero, one two three four, ...
    尾号 789X, ending 789X -> 尾号 七八九X             / ending seven eight nine X
    ¥52,316.08            -> 五万二千三百一十六元零八分  / fifty-two thousand ... yuan and eight fen
    8–64 位, 8-64, 8~64   -> 八到六十四 位               / eight to sixty four
    180 秒                -> 一百八十 秒

Numbers are said as a person would say them:

- Dates and times as words. Times with a zone (RFC 3339, as replies carry them) are spoken in
  China time (UTC+8), the time on the citizen's clock; a year before 年 digit by digit (二〇二六年).
- Amounts, counts, percentages and numbers with thousands separators as words.
- Digits that name something rather than count it, one by one: long runs (5 or more: phone
  numbers, hotlines, ID numbers, case numbers), digits starting with 0 (0427), digits joined by
  hyphens (020-12345678, 400-820-8820), digits right after a word such as 尾号, 后四位, 验证码,
  编号, ending or code, digits right after a letter (B12, RFC3339), and an ID's digits before its
  check letter X.
  The check letter stays the letter X in every language, as printed on the card and as a
  synthesiser says it (艾克斯); 叉 would also be heard as "wrong".
- A range with an en dash, a tilde or a hyphen between two numbers or times as 到 / to
  (8–64, 8~64, 9:00-17:00). With a hyphen it is a range only when it goes up and neither number
  starts with 0; otherwise (020-1234, 2026-0001) the digits are said one by one.

Symbols are never silently dropped where they carry meaning: a hyphen or an underscore standing
alone as an item of a list ("字母、数字、-、_", "digits, - or _") is named (短横线, 下划线 /
hyphen, underscore); 、 stays in Chinese (a synthesiser pauses at it) and is a comma in English;
brackets, a hyphen between codes in capitals (A-B) and dashes become a pause; a hyphen or an
underscore inside a word (e-licence, 11-digit, ap_nobody) a space. Quotes and other marks with
nothing to say are dropped.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime

from app.clock import CHINA_TZ
from app.i18n import EN, ZH_HANS, ZH_HANT

_ZH_DIGITS = "〇一二三四五六七八九"
_ZH_NUMBER_DIGITS = "零一二三四五六七八九"
_EN_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_EN_TEENS = ("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
             "nineteen")
_EN_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_EN_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
              "November", "December")
# Only the words this module adds are converted; the text around them is already in the language.
_HANT = str.maketrans({"万": "萬", "亿": "億", "点": "點", "隐": "隱", "几": "幾", "号": "號", "摄": "攝", "负": "負",
                       "于": "於", "间": "間", "经": "經"})

# One end of a range: a time, or a number (with a currency sign, thousands separators, a percent sign).
_END = r"(?:\d{1,2}:\d{2}(?::\d{2})?|[¥￥]?\d+(?:,\d{3})*(?:\.\d+)?%?)"
_RANGE = re.compile(rf"({_END})(\s*[–—~～]\s*|-)({_END})")
# Words after which digits name something (the last four of an ID, a code, a card) and are read one by one.
_KEYWORDS = (r"尾号|尾號|后四位|後四位|末四位|后4位|後4位|验证码|驗證碼|编号|編號|号码|號碼|账号|帳號|卡号|卡號|"
             r"代码|代碼|ending in|ending|code|PIN|No\.")
_PATTERN = re.compile(
    r"(?P<datetime>(?<![\d-])\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)?)"
    rf"|(?P<range>(?<![\d.:,-]){_END}(?:\s*[–—~～]\s*|-){_END}(?![\d:]|[-.,]\d))"
    r"|(?P<dashed>(?<![\d-])\d+(?:-\d+)+)"
    rf"|(?P<keyed>(?:{_KEYWORDS})[ \t]*(?:[:：]|是|为|為|is)?[ \t]*\d+[Xx]?"
    r"(?![\d:]|[-.,]\d|\s*(?:位|个|個|digits?\b|characters?\b|letters?\b)))"
    r"|(?P<code>\d+[Xx](?![A-Za-z])|(?<=[A-Za-z])\d+)"
    r"|(?P<time>(?<![\d:])\d{1,2}:\d{2}(?::\d{2})?(?![\d:]))"
    r"|(?P<amount>[¥￥]\s?\d[\d,]*(?:\.\d{1,2})?|\d[\d,]*(?:\.\d{1,2})?(?=\s?元))"
    r"|(?P<percent>\d+(?:\.\d+)?%)"
    r"|(?P<mask>\d*\*+\d*)"
    r"|(?P<year>(?<!\d)\d{4}(?=\s?年))"
    r"|(?P<number>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
)
_KEYED_DIGITS = re.compile(r"\d+[Xx]?$")
_SYMBOLS = {
    ZH_HANS: [("≥", "大于等于"), ("≤", "小于等于"), (">", "大于"), ("<", "小于"), ("&", "和"), ("+", "加"), ("~", "到"),
              ("～", "到"), ("→", "到"), ("/", "或"), ("=", "等于"), ("℃", "摄氏度"), ("#", "号")],
    EN: [("≥", " at least "), ("≤", " at most "), (">", " more than "), ("<", " less than "), ("&", " and "),
         ("+", " plus "), ("~", " to "), ("～", " to "), ("→", " to "), ("/", " or "), ("=", " equals "),
         ("℃", " degrees "), ("#", " number "), ("、", ", ")],
}
# A hyphen or an underscore standing alone as an item of a list is named, not dropped.
_LONE_SYMBOL = re.compile(r"((?:^|[、，,；;（(]|\b(?:or|and)\b|[或和及])\s*)([-_])(?=\s*(?:[、，,；;。.）)]|$|or\b|and\b|[或和及]))")
_SYMBOL_NAMES = {ZH_HANS: {"-": "短横线", "_": "下划线"}, ZH_HANT: {"-": "短橫線", "_": "底線"},
                 EN: {"-": " hyphen ", "_": " underscore "}}
_WORD_HYPHEN = re.compile(r"([0-9A-Za-z]+)-(?=([A-Za-z][0-9A-Za-z]*))")
_CAPITALS = re.compile(r"[A-Z0-9]+")
_WORD_UNDERSCORE = re.compile(r"(?<=[0-9A-Za-z])_(?=[0-9A-Za-z])")
_DROP = re.compile(r"[\[\]“”\"「」『』《》<>{}|_^`*…]")
_PAUSE = re.compile(r"\s*[·•:;；：—–\-（）()【】]+\s*")
_SPACES = re.compile(r"[ \t\u3000]+")


@functools.lru_cache(maxsize=8192)  # error messages and replies repeat: the same words are worked out once
def spoken(text: str, language: str = ZH_HANS) -> str:
    """`text` as it should be said aloud, with no symbols left for a synthesiser to stumble on."""
    if not text:
        return ""
    zh = language in (ZH_HANS, ZH_HANT)
    hant = language == ZH_HANT
    names = _SYMBOL_NAMES[language if language in _SYMBOL_NAMES else ZH_HANS]
    text = _LONE_SYMBOL.sub(lambda m: m.group(1) + names[m.group(2)], text)
    text = _WORD_HYPHEN.sub(_word_hyphen, text)
    text = _WORD_UNDERSCORE.sub(" ", text)
    out = _PATTERN.sub(lambda m: _speak(m, zh).translate(_HANT) if hant else _speak(m, zh), text)
    for symbol, words in _SYMBOLS[ZH_HANS if zh else EN]:
        out = out.replace(symbol, words.translate(_HANT) if hant else words)
    out = _DROP.sub("", out)
    out = _PAUSE.sub("，" if zh else ", ", out)
    return _tidy(out, zh)


def _word_hyphen(match: re.Match[str]) -> str:
    """A hyphen inside a word (e-licence, 11-digit) is no pause; one between codes in capitals (A-B) is."""
    left, right = match.group(1), match.group(2)
    joiner = "-" if _CAPITALS.fullmatch(left) and _CAPITALS.fullmatch(right) else " "
    return left + joiner


def _tidy(out: str, zh: bool) -> str:
    """One space at most, no pause at either end, next to a full stop or twice in a row."""
    out = _SPACES.sub(" ", out).strip(" ，,")
    out = re.sub(r"\s+([,，])" if zh else r"\s+([,.!?;])", r"\1", out)
    if zh:
        out = re.sub(r"，+([。！？；])", r"\1", out)
        out = re.sub(r"([。！？；])，+", r"\1", out)
        out = re.sub(r"，{2,}", "，", out)
        return re.sub(r"。{2,}", "。", out)
    out = re.sub(r"(?:\s*,)+\s*([.!?;])", r"\1", out)
    out = re.sub(r"([.!?])\s*,\s*", r"\1 ", out)
    out = re.sub(r"([.!?])\s*\.", r"\1", out)
    return re.sub(r"(, )+", ", ", out).strip()


def _speak(match: re.Match[str], zh: bool) -> str:
    """One matched token (a date, an amount, a code...) as words, read the way its kind is said."""
    kind, value = match.lastgroup, match.group()
    if kind == "datetime":
        return _datetime(value, zh)
    if kind == "range":
        return _range(value, zh)
    if kind == "dashed":
        return _dashed(value, zh)
    if kind == "keyed":
        return _keyed(value, zh)
    if kind == "code":
        return read_digits(value, zh)
    if kind == "time":
        return _time(value, zh)
    if kind == "amount":
        return _amount(value.lstrip("¥￥").strip().replace(",", ""), zh)
    if kind == "percent":
        return _percent(value, zh)
    if kind == "mask":
        return _mask(value, zh)
    if kind == "year":
        return _year(value, zh)
    return _digits_or_number(value, zh)


def _keyed(value: str, zh: bool) -> str:
    """A word followed by its number (a case or record number): the word as written, the digits one by one."""
    found = _KEYED_DIGITS.search(value)
    assert found is not None  # the value matched _PATTERN's keyed group, which ends in these digits
    digits = found.group()
    return value[:-len(digits)] + read_digits(digits, zh)


def _time(value: str, zh: bool) -> str:
    """A clock time written hh:mm (seconds, if any, are not said)."""
    hour, minute = (int(p) for p in value.split(":")[:2])
    return _clock(hour, minute, zh)


def _percent(value: str, zh: bool) -> str:
    """A percentage such as 12.5%, said as a number of hundredths."""
    number = _number(value[:-1], zh)
    return f"百分之{number}" if zh else f" {number} percent "


def _mask(value: str, zh: bool) -> str:
    """Digits partly hidden by stars: the shown digits one by one, and that some are hidden."""
    found = re.fullmatch(r"(\d*)(\*+)(\d*)", value)
    assert found is not None  # the value matched _PATTERN's mask group, the same shape
    head, stars, tail = found.groups()
    return (read_digits(head, zh) if head else "") + _hidden(stars, head or tail, zh) + \
        (read_digits(tail, zh) if tail else "")


def _hidden(stars: str, shown: str, zh: bool) -> str:
    """What stands for the stars: a few stars alone stand for one unknown, else digits are said to be hidden."""
    one_unknown = len(stars) <= 2 and not shown
    if zh:
        return "某" if one_unknown else "，中间几位已隐藏，"
    return " hidden " if one_unknown else ", some digits hidden, "


def _year(value: str, zh: bool) -> str:
    """A year: digit by digit in Chinese (二〇二四), as a number in English."""
    return "".join(_ZH_DIGITS[int(d)] for d in value) if zh else f" {en_number(int(value))} "


def _range(value: str, zh: bool) -> str:
    """8–64 八到六十四 / eight to sixty four; with a hyphen only when it goes up, else digits (020-1234)."""
    found = _RANGE.fullmatch(value)
    assert found is not None  # the value matched _PATTERN's range group, the same shape
    low, dash, high = found.groups()
    if dash == "-" and not _goes_up(low, high):
        return _dashed(value, zh)
    return _quantity(low, zh) + ("到" if zh else " to ") + _quantity(high, zh)


def _goes_up(low: str, high: str) -> bool:
    """Whether `low-high` reads as a range: two times, or two numbers going up, neither starting with 0."""
    if ":" in low or ":" in high:
        return ":" in low and ":" in high
    plain = [end.lstrip("¥￥").rstrip("%").replace(",", "") for end in (low, high)]
    if any(len(p) > 1 and p.startswith("0") and not p.startswith("0.") for p in plain):
        return False
    return float(plain[0]) < float(plain[1])


def _quantity(end: str, zh: bool) -> str:
    """One end of a range: a time, an amount, a percentage or a number, always as words."""
    if ":" in end:
        hour, minute = (int(p) for p in end.split(":")[:2])
        return _clock(hour, minute, zh)
    if end[0] in "¥￥":
        return _amount(end[1:].replace(",", ""), zh)
    if end.endswith("%"):
        number = _number(end[:-1].replace(",", ""), zh)
        return f"百分之{number}" if zh else f" {number} percent "
    return _number(end.replace(",", ""), zh) if zh else f" {_number(end.replace(',', ''), zh)} "


def _dashed(value: str, zh: bool) -> str:
    """Digits joined by hyphens (a phone with its area code, a case number) one by one, a pause at each hyphen."""
    parts = [p for p in re.split(r"\s*[-–—~～]\s*", value) if p]
    if all(p.isdigit() for p in parts):
        said = [read_digits(p, zh).strip() for p in parts]
    else:
        said = [_PATTERN.sub(lambda m: _speak(m, zh), p).strip() for p in parts]
    return " ".join(said) if zh else " " + ", ".join(said) + " "


def _datetime(value: str, zh: bool) -> str:
    if len(value) == 10:
        year, month, day = (int(p) for p in value.split("-"))
        return _date(year, month, day, zh)
    stamp = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "T"))
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(CHINA_TZ)  # said in the time on the citizen's clock
    joiner = "" if zh else " at "
    return _date(stamp.year, stamp.month, stamp.day, zh) + joiner + _clock(stamp.hour, stamp.minute, zh)


def _date(year: int, month: int, day: int, zh: bool) -> str:
    if zh:
        return "".join(_ZH_DIGITS[int(d)] for d in f"{year:04d}") + f"年{zh_number(month)}月{zh_number(day)}日"
    return f"the {en_ordinal(day)} of {_EN_MONTHS[month - 1]} {en_number(year)}"


def _clock(hour: int, minute: int, zh: bool) -> str:
    if zh:
        return f"{zh_number(hour)}点" + ("整" if minute == 0 else f"{zh_number(minute)}分")
    part = "in the morning" if hour < 12 else "in the afternoon" if hour < 18 else "in the evening"
    twelve = hour % 12 or 12
    if minute == 0:
        return f"{en_number(twelve)} o'clock {part}"
    minutes = f"oh {en_number(minute)}" if minute < 10 else en_number(minute)
    return f"{en_number(twelve)} {minutes} {part}"


def _amount(value: str, zh: bool) -> str:
    whole, _, cents = value.partition(".")
    cents = (cents + "00")[:2]
    jiao, fen = int(cents[0]), int(cents[1])
    if zh:
        text = f"{zh_number(int(whole))}元"
        if jiao:
            text += f"{_ZH_NUMBER_DIGITS[jiao]}角"
        if fen:
            text += ("零" if not jiao else "") + f"{_ZH_NUMBER_DIGITS[fen]}分"
        return text
    text = f"{en_number(int(whole))} yuan"
    if int(cents):
        text += f" and {en_number(int(cents))} fen"
    return f" {text} "


def _digits_or_number(value: str, zh: bool) -> str:
    if "," in value:  # thousands separators: a count or an amount, never a code
        value = value.replace(",", "")
        return _number(value, zh) if zh else f" {_number(value, zh)} "
    if "." in value:
        return _number(value, zh)
    if len(value) >= 5 or (len(value) > 1 and value.startswith("0")):  # 0427 names something, it counts nothing
        return read_digits(value, zh)
    return zh_number(int(value)) if zh else f" {en_number(int(value))} "


def _number(value: str, zh: bool) -> str:
    whole, _, fraction = value.partition(".")
    if zh:
        text = zh_number(int(whole))
        return text + ("点" + "".join(_ZH_NUMBER_DIGITS[int(d)] for d in fraction) if fraction else "")
    text = en_number(int(whole))
    return text + (" point " + " ".join(_EN_DIGITS[int(d)] for d in fraction) if fraction else "")


def read_digits(digits: str, zh: bool = True) -> str:
    """Digit by digit, grouped as people say them: a mobile number 3-4-4, an ID number 6-8-4, other
    runs in fours. An ID's check letter X (or x) stays the letter X."""
    if len(digits) == 11 and digits.startswith("1"):
        groups = [digits[:3], digits[3:7], digits[7:]]
    elif len(digits) <= 6:
        groups = [digits]  # a hotline (12345) or a short code is said in one breath
    elif len(digits) == 18:
        groups = [digits[:6], digits[6:14], digits[14:]]  # an ID number: region, birth date, sequence
    else:
        groups = [digits[i:i + 4] for i in range(0, len(digits), 4)]
    if zh:
        return " ".join("".join(_digit(d, zh) for d in g) for g in groups)
    return " " + ", ".join(" ".join(_digit(d, zh) for d in g) for g in groups) + " "


def _digit(digit: str, zh: bool) -> str:
    if digit in "Xx":
        return "X"
    return _ZH_DIGITS[int(digit)] if zh else _EN_DIGITS[int(digit)]


def zh_number(n: int) -> str:
    """An integer in Chinese numerals as read aloud: 10 十, 16 十六, 2874 二千八百七十四, 100 一百, 1005 一千零五."""
    if n == 0:
        return "零"
    if n < 0:
        return "负" + zh_number(-n)
    parts: list[str] = []
    units = ("", "万", "亿", "万亿")
    group_index, need_zero = 0, False
    while n > 0:
        n, group = divmod(n, 10_000)
        if group:
            text = _zh_group(group) + units[group_index]
            if need_zero:
                text += "零"
            parts.append(text)
            need_zero = group < 1000 and n > 0
        elif parts:
            need_zero = True
        group_index += 1
    text = "".join(reversed(parts))
    text = re.sub("零+", "零", text).rstrip("零")
    return text[1:] if text.startswith("一十") else text


def _zh_group(n: int) -> str:
    """0 < n < 10000."""
    digits = f"{n:04d}"
    text, zero = "", False
    for digit, unit in zip(digits, ("千", "百", "十", "")):
        d = int(digit)
        if d == 0:
            zero = bool(text)
            continue
        if zero:
            text += "零"
            zero = False
        text += _ZH_NUMBER_DIGITS[d] + unit
    return text


_EN_ORDINALS = {1: "first", 2: "second", 3: "third", 5: "fifth", 8: "eighth", 9: "ninth", 12: "twelfth"}


def en_ordinal(n: int) -> str:
    """1 first, 2 second, 21 twenty first, 30 thirtieth (days of a month)."""
    if n in _EN_ORDINALS:
        return _EN_ORDINALS[n]
    tens, ones = divmod(n, 10)
    if n > 20 and ones:
        return f"{_EN_TENS[tens]} {en_ordinal(ones)}"
    word = en_number(n)
    return word[:-1] + "ieth" if word.endswith("y") else word + "th"


def en_number(n: int) -> str:
    """An integer in English words: 2874 two thousand eight hundred seventy-four."""
    if n < 0:
        return "minus " + en_number(-n)
    if n < 10:
        return _EN_DIGITS[n]
    if n < 20:
        return _EN_TEENS[n - 10]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _EN_TENS[tens] + (f" {_EN_DIGITS[ones]}" if ones else "")  # no hyphen: it would be read as a pause
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{_EN_DIGITS[hundreds]} hundred" + (f" {en_number(rest)}" if rest else "")
    for size, word in ((10**9, "billion"), (10**6, "million"), (1000, "thousand")):
        if n >= size:
            high, rest = divmod(n, size)
            return f"{en_number(high)} {word}" + (f" {en_number(rest)}" if rest else "")
    return str(n)
