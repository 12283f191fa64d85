"""An English gist of a quoted Chinese sentence: a word-by-word dictionary gloss, not a translation.

An English reader of an answer over Chinese documents gets the quoted sentences verbatim; under
each, this stage lays out what the words are, in the sentence's order: names in pinyin
(岳阳 → Yueyang, 杜国臣 → Du Guochen), the documents' recurring terms in the project's English
(自贸试验区 → pilot free trade zone), numbers and dates from the source (digits kept exactly,
Chinese numerals converted: 一百二十一 → 121, 2013年8月 → August 2013), and every other content
word's first CC-CEDICT sense, short. Function words (的, 了) are left out. A word CC-CEDICT does
not list is glossed from its parts and marked "(?)".

It does not translate: no grammar, no reordering, no choice between senses by context, and it
says so wherever it is shown (`LABEL`). It reads the dictionary through qa.crosslingual (once per
process) and does no other I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

LABEL = "Word-by-word dictionary gloss, not a translation"

# The documents' recurring terms, in the English the project's glossary uses for them
# (qa.crosslingual.SUPPLEMENT maps the other way); CC-CEDICT lacks them or glosses their
# abbreviations by their parts (临港 "face + harbour").
TERMS = {
    "自由贸易试验区": "pilot free trade zone",
    "自由贸易区": "free trade zone",
    "自贸试验区": "pilot free trade zone",
    "自贸区": "free trade zone",
    "自贸港": "free trade port",
    "自贸": "free trade",
    "试验区": "pilot zone",
    "片区": "area",
    "园区": "park",
    "总体方案": "overall plan",
    "一带一路": "Belt and Road",
    "一带一部": "one belt, one hub",
    "粤港澳大湾区": "Guangdong-Hong Kong-Macao Greater Bay Area",
    "大湾区": "Greater Bay Area",
    "湘粤港澳": "Hunan-Guangdong-Hong Kong-Macao",
    "粤港澳": "Guangdong-Hong Kong-Macao",
    "湘港澳": "Hunan-Hong Kong-Macao",
    "长株潭": "Changsha-Zhuzhou-Xiangtan",
    "中非": "China-Africa",
    "临港经济": "port economy",
    "临空经济": "airport economy",
    "改革开放": "reform and opening-up",
    "双循环": "dual circulation",
    "负面清单": "negative list",
    "跨境电商": "cross-border e-commerce",
    "制度创新": "institutional innovation",
    "先行区": "pilot area",
    "示范区": "demonstration zone",
    "城市群": "city cluster",
    "经济带": "economic belt",
    "经济圈": "economic circle",
    "增长极": "growth pole",
    "开放型经济": "open economy",
    "深改委": "Commission for Deepening Reform",
}

# Words whose first CC-CEDICT sense misleads in official documents (出口 "an exit", 开放 "to
# bloom"): the sense these documents use. Matched as whole words, after segmentation.
WORDS = {
    "出口": "export",
    "开放": "opening-up/open",
    "我市": "our city",
    "我省": "our province",
    "揭牌": "unveil",
    "集群": "cluster",
    "作为": "as",
    "地区": "region",
    "举措": "measure",
    "对接": "link up with",
    "综合性": "comprehensive",
    "已有": "already have",
}

# Function words: a few carry the sentence's logic and get a short English word; the rest of
# the particles (jieba tags u*, y, e, o) are left out.
FUNCTION = {
    "和": "and",
    "与": "and",
    "及": "and",
    "以及": "and",
    "并": "and",
    "或": "or",
    "或者": "or",
    "但": "but",
    "但是": "but",
    "而": "while",
    "不": "not",
    "没有": "not",
    "未": "not",
    "将": "will",
    "已": "already",
    "已经": "already",
    "在": "in",
    "对": "toward",
    "为": "for",
    "从": "from",
    "向": "toward",
    "于": "at",
    "由": "by",
    "被": "(passive)",
    "按": "according to",
    "至": "to",
    "到": "to",
    "等": "etc.",
    "是": "is",
    "也": "also",
    "都": "all",
    "中": "in",
    "上": "on",
    "这": "this",
    "该": "this",
    "其中": "among them",
    "后": "after",
    "要": "must",
}
SKIP = frozenset("的 地 得 了 着 过 之 所 其 就 把 则 吗 呢 吧 啊 呀 嘛".split())
_SKIP_TAGS = ("u", "y", "e", "o")

PUNCT = {
    "，": ",",
    "、": ",",
    "；": ";",
    "。": ".",
    "：": ":",
    "？": "?",
    "！": "!",
    "“": "“",
    "”": "”",
    "‘": "‘",
    "’": "’",
    "《": "“",
    "》": "”",
    "（": "(",
    "）": ")",
    "—": "—",
}
_OPENERS = ("“", "‘", "(")

_DIGIT = "〇零一二两三四五六七八九"
_DIGITS = {c: i for i, c in enumerate("〇一二三四五六七八九")} | {"零": 0, "两": 2}
_UNITS = {"十": 10, "百": 100, "千": 1000}
_BIG = {"万": 10**4, "亿": 10**8}
_CN = f"[{_DIGIT}十百千万亿]+"
MONTHS = "January February March April May June July August September October November December".split()
# What a classifier after a number adds in English ("7大领域" → "7 major", "40年" → "40 years").
CLASSIFIERS = {
    "项": "",
    "个": "",
    "条": "",
    "家": "",
    "名": "",
    "位": "",
    "块": "",
    "部": "",
    "批": "batches",
    "大": "major",
    "种": "kinds",
    "次": "times",
    "倍": "times",
    "年": "years",
    "届": "sessions",
    "岁": "years old",
}
_CL = "[" + "".join(CLASSIFIERS) + "]"
_BIG_EN = {"万": "ten thousand", "亿": "hundred million", "万亿": "trillion", "千": "thousand"}

_M = r"(?:\d{1,2}|十[一二]?|[一二三四五六七八九])"
_D = r"(?:\d{1,2}|[一二三]?十[一二三四五六七八九]?|[一二三四五六七八九])"
# Dates, month ranges and numbers written with digits, found in the sentence before it is cut
# into words (jieba cuts "2013年8月" into four words and "2 亿美元" into "2" and "亿美元").
_SPECIAL = re.compile(
    rf"(?P<y>\d{{4}}|[〇零一二三四五六七八九]{{4}})\s*年\s*(?:(?P<ym>{_M})\s*月\s*(?:(?P<yd>{_D})\s*日)?)?"
    rf"|(?P<md_m>{_M})\s*月\s*(?P<md_d>{_D})\s*日"
    rf"|(?P<r1>\d{{1,2}})\s*(?:至|到|-|—|～|~)\s*(?P<r2>\d{{1,2}})\s*月"
    rf"|(?P<mo>\d{{1,2}})\s*月(?!\s*[份度]?\d)"
    rf"|(?P<ord>第)?(?P<n>\d+(?:\.\d+)?)\s*(?P<pct>[%％])?\s*(?P<big>万亿|亿|万|千)?\s*(?P<cl>{_CL})?(?![\d.])"
    # Chinese numerals too: jieba cuts 一百二十一项 into 一百二十 and 一项.
    rf"|(?P<cn_ord>第)?(?P<cn>{_CN})(?P<cn_cl>{_CL})?"
)
# Runs of numeral characters that are words, not numbers (万一 "in case", 千万 "by all means").
_NOT_NUMBERS = frozenset("万一 千万 一一 十分 千千万万".split())
_NUMERAL_WORD = re.compile(rf"(?P<ord>第)?(?P<n>{_CN})(?P<cl>{_CL})?")
_SENSE_SKIP = re.compile(
    r"^(?:surname|(?:old |archaic )?variant of|see |used in|CL:|classifier for|Kangxi radical|also pr\.|"
    r"also written|same as|abbr\. for [^A-Za-z]*$|\(Tw\)|\(old\)|\(dialect\)|\(archaic\)|\(literary\))"
)
_HAN_REF = re.compile(r"[\u4e00-\u9fff|]+(?:\[[^\]]*\])?")
_PARENS = re.compile(r"\s*\([^()]*\)")
_LEAD_NAME = re.compile(r"(?:[A-Z][a-z]+(?:[ -][A-Z][a-z]+)*)")
_HAN = re.compile(r"[\u4e00-\u9fff]")
MAX_GLOSS = 28


@dataclass(frozen=True)
class Part:
    """One unit of a gist: the source words, verbatim, and what is shown for them.

    kind: "name" (pinyin of the Chinese name), "term" (the project's English for a term),
    "gloss" (CC-CEDICT's sense), "guess" (glossed from its characters: not in the dictionary),
    "number", "date", "latin" (Latin letters as written), "punct"."""

    zh: str
    en: str
    kind: str


@dataclass(frozen=True)
class Gist:
    sentence: str
    parts: tuple[Part, ...]

    @property
    def text(self) -> str:
        """The parts in the sentence's order: words apart by " · ", punctuation as in English."""
        out = ""
        previous = ""
        for p in self.parts:
            if p.kind == "punct" and p.en not in _OPENERS:
                out += p.en
            else:
                if out and not (previous == "punct" and out.endswith(_OPENERS)):
                    out += " " if previous == "punct" else " · "
                out += p.en
            previous = p.kind
        return out.strip()


def cn_to_int(text: str) -> int | None:
    """The value of a Chinese numeral (一百二十一 → 121, 二〇二五 → 2025, 两 → 2, 三千五百万 →
    35000000), or None when it is not one well-formed number (十四五 is a plan's name)."""
    if not text:
        return None
    if all(c in _DIGITS for c in text):
        return int("".join(str(_DIGITS[c]) for c in text))  # read digit by digit: 二〇二五
    total = section = 0
    digit: int | None = None
    for c in text:
        if c in _DIGITS:
            if digit is not None and digit != 0:
                return None  # two digits in a row beside units
            digit = _DIGITS[c]
        elif c in _UNITS:
            section += (1 if digit is None else digit) * _UNITS[c]
            digit = None
        elif c in _BIG:
            total = (total + section + (digit or 0)) * _BIG[c]
            section, digit = 0, None
        else:
            return None
    return total + section + (digit or 0)


def number_value(text: str) -> int | None:
    """The value of a number written in digits or in Chinese numerals (7, 七, 一百二十一)."""
    return int(text) if text.isdigit() else cn_to_int(text)


def _ordinal(n: str) -> str:
    if n.endswith(("11", "12", "13")):
        return f"{n}th"
    return n + {"1": "st", "2": "nd", "3": "rd"}.get(n[-1:], "th")


def _with_classifier(number: str, cl: str | None, ordinal: bool) -> str:
    if ordinal:
        return _ordinal(number) + (" time" if cl == "次" else "")
    extra = CLASSIFIERS.get(cl or "", "")
    if extra.endswith("s") and number == "1" and cl in ("年", "次", "种"):
        extra = {"年": "year", "次": "time", "种": "kind"}[cl]
    return f"{number} {extra}".strip()


def _month(text: str) -> str | None:
    m = number_value(text)
    return MONTHS[m - 1] if m is not None and 1 <= m <= 12 else None


def _special(m: re.Match[str]) -> Part | None:
    """A date, month range or number found by _SPECIAL, or None when it is no such thing (月 13)."""
    g = m.groupdict()
    zh = m.group(0)
    if g["y"]:
        year = str(number_value(g["y"]))
        month = _month(g["ym"]) if g["ym"] else None
        if g["ym"] and month is None:
            return None
        day = number_value(g["yd"]) if g["yd"] else None
        return Part(zh, " ".join(str(x) for x in (day, month, year) if x), "date")
    if g["md_m"]:
        month, day = _month(g["md_m"]), number_value(g["md_d"])
        return Part(zh, f"{day} {month}", "date") if month and day and day <= 31 else None
    if g["r1"]:
        first, last = _month(g["r1"]), _month(g["r2"])
        return Part(zh, f"{first} to {last}", "date") if first and last else None
    if g["mo"]:
        month = _month(g["mo"])
        return Part(zh, month, "date") if month else None
    if g["cn"] is not None:
        value = cn_to_int(g["cn"])
        # A lone numeral character is a number only as 第一 or before a classifier (一项, 三大):
        # 百 of 百姓 and 十 of 十分 are not.
        if value is None or g["cn"] in _NOT_NUMBERS or (len(g["cn"]) == 1 and not (g["cn_ord"] or g["cn_cl"])):
            return None
        return Part(zh, _with_classifier(str(value), g["cn_cl"], bool(g["cn_ord"])), "number")
    number = g["n"] + ("%" if g["pct"] else "")
    if g["big"]:
        number += " " + _BIG_EN[g["big"]]
    return Part(zh, _with_classifier(number, g["cl"], bool(g["ord"])), "number")


@lru_cache(maxsize=1)
def _dictionary() -> dict[str, tuple[tuple[str, str], ...]]:
    """Simplified headword -> its CC-CEDICT entries (pinyin, definitions), in dictionary order."""
    from qa.crosslingual import dictionary_entries

    out: dict[str, list[tuple[str, str]]] = {}
    for simp, pinyin, defs in dictionary_entries():
        out.setdefault(simp, []).append((pinyin, defs))
    return {k: tuple(v) for k, v in out.items()}


def _plain_pinyin(word: str) -> list[str]:
    from pypinyin import lazy_pinyin

    return [s.lower() for s in lazy_pinyin(word, v_to_u=True)]


def _tone_pinyin(word: str) -> str:
    """The word's reading with tone numbers as CC-CEDICT writes it ("zhong4dian3", lü -> "lu:")."""
    from pypinyin import Style, lazy_pinyin

    return "".join(lazy_pinyin(word, style=Style.TONE3, neutral_tone_with_five=True)).replace("v", "u:")


def _senses(defs: str) -> list[str]:
    """The usable senses of an entry, short: no cross-references, parentheticals, "to ", digits."""
    out = []
    for sense in re.split(r"[/;]", defs):
        sense = sense.strip()
        if not sense or _SENSE_SKIP.match(sense):
            continue
        abbr = sense.startswith("abbr. for ")
        sense = _HAN_REF.sub("", sense.removeprefix("abbr. for "))
        sense = _PARENS.sub("", sense).replace("(", "").replace(")", "")
        # "Yangtze River, or Chang Jiang", "Zhuzhou, prefecture-level city ...": the name.
        sense = sense.split(",")[0]
        sense = re.sub(r"\s+", " ", re.sub(r"^(?:to|lit\.|the|a|an) ", "", sense.strip())).strip(" ,.")
        if abbr:  # "abbr. for Hunan 湖南 province in south central China" -> "Hunan"
            lead = _LEAD_NAME.match(sense)
            sense = lead.group(0) if lead else ""
        if not sense or re.search(r"\d", sense):
            continue  # numbers in a gist come from the sentence only
        out.append(sense)
    return out


def _short(senses: list[str]) -> str:
    """The first sense, and the second too while both stay short ("prominent/outstanding")."""
    if not senses:
        return ""
    first = senses[0]
    if len(senses) > 1 and senses[1] != first and len(first) + len(senses[1]) < MAX_GLOSS - 4:
        return f"{first}/{senses[1]}"
    return first


def _name(word: str, cedict_pinyin: str = "") -> str:
    """A name in pinyin, capitalised; CC-CEDICT's capitals say where its words begin
    ("Xi2 Jin4 ping2" → Xi Jinping), else one word (Yueyang)."""
    syllables = _plain_pinyin(word)
    caps = [s[:1].isupper() for s in cedict_pinyin.split()]
    if len(caps) != len(syllables) or not any(caps):
        caps = [True] + [False] * (len(syllables) - 1)
    out = ""
    for s, cap in zip(syllables, caps):
        out += (" " if out and cap else "") + (s.capitalize() if cap else s)
    return out


def romanise(name: str) -> str:
    """A Chinese place or person name as an English text spells it: its dictionary reading when
    CC-CEDICT lists it as a name (Xi Jinping), else pinyin as one word (郴州 -> Chenzhou)."""
    for pinyin, _ in _dictionary().get(name, ()):
        if pinyin[:1].isupper():
            return _name(name, pinyin)
    return _name(name)


def _lookup(word: str) -> Part | None:
    """The word's part from CC-CEDICT: a name in pinyin when the dictionary gives it as a proper
    name spelt as its reading; else its first senses, preferring the entry read as pypinyin reads
    the word (重点 zhong4dian3 "main point", not chong2dian3 "recount") and common words."""
    entries = _dictionary().get(word)
    if not entries:
        return None
    reading = "".join(_plain_pinyin(word))
    toned = _tone_pinyin(word)

    def rank(entry: tuple[str, str]) -> tuple[bool, bool, bool]:
        spelt = entry[0].replace(" ", "").lower()
        toneless = re.sub(r"\d", "", spelt).replace("u:", "ü")
        return (toneless != reading, spelt != toned, entry[0][:1].isupper())

    for pinyin, defs in sorted(entries, key=rank):
        senses = _senses(defs)
        if not senses:
            continue
        proper = pinyin[:1].isupper()
        lead = _LEAD_NAME.match(senses[0]) if proper else None
        if proper and (not lead or re.sub(r"[\s-]", "", lead.group(0)).lower() == reading):
            # A name spelt as it is read ("Yueyang prefecture-level city"), or described
            # ("a city in Hunan province"): its pinyin.
            return Part(word, _name(word, pinyin), "name")
        if lead:  # an English name: 非洲 → Africa, 长江 → Yangtze River, 商务部 → Department of Trade
            return Part(word, senses[0], "gloss")
        return Part(word, _short(senses), "gloss")
    return None


def _surname(char: str) -> bool:
    return any(defs.startswith("surname") for _, defs in _dictionary().get(char, ()))


def _person(word: str, tag: str) -> bool:
    """A person's name jieba found (杜国臣): tagged a name, not in the dictionary, a surname first
    and a given name that is no dictionary word (谈朋友 is 谈 + 朋友)."""
    return (
        tag in ("nr", "nrfg", "nrt")
        and 2 <= len(word) <= 4
        and _surname(word[0])
        and word[1:] not in _dictionary()
        and bool(_HAN.fullmatch(word[1]))
    )


def _pieces(word: str) -> list[str]:
    """The word cut into the longest dictionary headwords, left to right."""
    out, i, known = [], 0, _dictionary()
    while i < len(word):
        for n in range(min(4, len(word) - i), 0, -1):
            if word[i : i + n] in known or n == 1:
                out.append(word[i : i + n])
                i += n
                break
    return out


def _guess(word: str) -> Part:
    """A word the dictionary lacks, glossed from its parts and marked as a guess (临港 → face-port(?))."""
    pieces = _pieces(word)
    shown = []
    for piece in pieces:
        found = Part(piece, WORDS[piece], "gloss") if piece in WORDS else _lookup(piece)
        if found and found.kind == "name":
            shown.append(found.en)
        elif found:
            shown.append(re.split(r"/", found.en)[0])
        else:
            shown.append("".join(_plain_pinyin(piece)))
    if all(len(p) > 1 for p in pieces) and len(pieces) > 1:  # words of the dictionary: 内陆 + 地区
        return Part(word, " ".join(shown), "gloss")
    return Part(word, "-".join(shown) + "(?)", "guess")


def _word(word: str, tag: str) -> Part | None:
    if word in TERMS:
        return Part(word, TERMS[word], "term")
    if word in FUNCTION:
        return Part(word, FUNCTION[word], "gloss")
    if word in SKIP or tag.startswith(_SKIP_TAGS):
        return None
    m = _NUMERAL_WORD.fullmatch(word)
    if m:
        value = cn_to_int(m.group("n"))
        if value is not None:
            return Part(word, _with_classifier(str(value), m.group("cl"), bool(m.group("ord"))), "number")
    if not _HAN.search(word):
        return Part(word, word, "latin") if word.strip() else None
    if word in WORDS:
        return Part(word, WORDS[word], "gloss")
    found = _lookup(word)
    if found is None and _person(word, tag):  # family name apart, given name joined: Du Guochen
        return Part(word, _name(word, "X1 X1" + " x1" * (len(word) - 2)), "name")
    return found or (_guess(word) if len(word) > 1 else None)


def _cut(text: str) -> list[Part]:
    """Words of a run of text with no term, date or number in it."""
    import jieba.posseg as pseg

    out: list[Part] = []
    for token in pseg.cut(text):
        word, tag = token.word, token.flag
        if not word.strip():
            continue
        if word in PUNCT or (tag == "x" and len(word) == 1 and not word.isalnum()):
            out.append(Part(word, PUNCT.get(word, word), "punct"))
            continue
        part = _word(word, tag)
        if part is not None:
            out.append(part)
    return out


@lru_cache(maxsize=1)
def _terms() -> re.Pattern[str]:
    return re.compile("|".join(re.escape(t) for t in sorted(TERMS, key=len, reverse=True)))


@lru_cache(maxsize=4096)
def gist(sentence: str) -> Gist:
    """The sentence's English gist (cached: answers quote the same sentences again and again)."""
    parts: list[Part] = []
    pos = 0
    spans: list[tuple[int, int, Part]] = []
    for m in _terms().finditer(sentence):
        spans.append((m.start(), m.end(), Part(m.group(0), TERMS[m.group(0)], "term")))
    for m in _SPECIAL.finditer(sentence):
        if any(s < m.end() and m.start() < e for s, e, _ in spans):
            continue
        part = _special(m)
        if part is not None:
            spans.append((m.start(), m.end(), part))
    for start, end, part in sorted(spans, key=lambda x: x[0]):
        parts += _cut(sentence[pos:start])
        parts.append(part)
        pos = end
    parts += _cut(sentence[pos:])
    return Gist(sentence, tuple(parts))


def warm() -> None:
    """Load the dictionary and jieba's tagger now rather than during the first English answer."""
    gist("岳阳突出临港经济，打造长江中游综合性航运物流中心。")
