"""What kind of answer a question wants, and whether a text holds one.

A question asking "when" is answered by a sentence with a date, "how large" by one with an area,
"what else is it called" by one that gives another name, "什么是X" by the sentence that defines X.
The answer stage favours such sentences; retrieval favours the passages that hold one.
"""

from __future__ import annotations

import re

_ASKS_YEAR = re.compile(r"哪一?年|\bwhat year\b|\bwhich year\b", re.I)
# English "when" only opening the question: "Who was party secretary when the FTZ was unveiled?"
# asks for a person.
_ASKS_TIME = re.compile(r"什么时候|何时|哪一?天|几月|截止|^\s*when\b|\bwhat (?:date|month)\b|\bdeadline\b", re.I)
_ASKS_NUMBER = re.compile(r"多少|几[个项家条种大年]|多大|比例|\bhow (?:many|much|large|big)\b|\bpercent", re.I)
_HAS_YEAR = re.compile(r"\d{4}|[〇一二三四五六七八九十\d]+年|去年|今年|明年")
# A date, not just a year ("二〇二五年度" names a year; "六月三十日" is a date).
_HAS_DATE = re.compile(r"[〇一二三四五六七八九十\d]+[月日]")
_HAS_NUMBER = re.compile(r"\d|[一二三四五六七八九十百千万亿]+[项个家条种大%％亿万]")
# "How large" asks for an area or an extent: a count ("11项改革事项") is a number, not a size.
# Not 多大年纪 / 多大岁数 (an age: a number).
_ASKS_SIZE = re.compile(r"多大(?!年纪|岁)|面积|占地|\bhow (?:large|big)\b|\bwhat(?:'s| is) the (?:area|size)\b", re.I)
_HAS_SIZE = re.compile(r"平方(?:公里|千米|米|英里|英尺)|公顷|[万千百十\d]\s*亩|km²|km2|面积|占地")
# "Where" is answered by a sentence that places something (位于…, 生于…): the sentence that only
# names the place asked about ("乌石礁为立于乌石港中之乌礁石") shares the question's words instead.
_ASKS_PLACE = re.compile(r"在哪|哪里|哪儿|何处|什么地方|什么位置|地理位置|^\s*where\b", re.I)
_HAS_PLACE = re.compile(r"位于|坐落|座落|地处|生于|设于|设在|总部在|\blocated\b|\bsituated\b", re.I)
# "第几名" is answered by a placing (第3名, 冠军), not by the sentence about the race.
_ASKS_PLACING = re.compile(r"第几|几名|名次|\bwhat (?:place|position)\b", re.I)
_HAS_PLACING = re.compile(r"第[\d一二三四五六七八九十]+[名位]|冠军|亚军|季军")
# "哪个朝代 / 什么时期" is answered by an era (北宋, 清代, 江户时代), which holds no digit or 年.
_ASKS_ERA = re.compile(r"朝代|哪一?朝|什么朝|(?:哪个|哪一|什么)(?:时代|时期)|\bwhich (?:dynasty|era|period)\b", re.I)
_HAS_ERA = re.compile(
    r"(?!周末)[东西南北前后]?[夏商周秦汉晋隋唐宋元明清辽金](?:朝|代|末|初)|[东西南北][汉晋宋魏齐周]|五代|三国|战国|春秋"
    r"|\w{2}时[代期]|\bdynasty\b",
    re.I,
)
# "名字是怎么来的 / 因何得名" is answered by the sentence that says where a name comes from
# (由此得名, 以…命名, 赐名…): the sentence that only gives the name shares the question's words.
_ASKS_NAMING = re.compile(
    r"名字?.{0,4}(?:怎么|如何|从何|由何)来|(?:名字|名称)的?(?:由来|来源|来历)|得名|命名|为什么叫|为何叫"
    r"|\bnamed (?:after|for)\b|\bwhy is it called\b",
    re.I,
)
_GIVES_NAMING = re.compile(r"得名|命名|取名|赐名|起名|之名|为名|\bnamed (?:after|for)\b", re.I)
# "从哪里来 / 源于哪里" asks for a source or an origin (图片来源于新湖南, 源于法语), not a place:
# the sentence that places the thing asked about (位于…) does not say where it comes from.
_ASKS_SOURCE = re.compile(
    r"从哪里?来|从哪儿来|从何而来|(?:来源|起源|发源|源)于?(?:哪|何处)|出处|出自哪|来自哪"
    # Not any "came from": "What proportion of imports came from those 18 FTZs?" asks a share.
    r"|\bwhere\b.*\bc(?:o|a)mes? from\b|\bwhat (?:is|was|are|were) the (?:source|origin)s?\b|\borigins? of\b",
    re.I,
)
_GIVES_SOURCE = re.compile(r"来源|来自|出自|源于|源自|起源|发源|摘自|转载|供图|\bsource\b", re.I)
# "现在 / 目前…" is answered by what holds now (现任…, 目前…, 至今…), not by a career's or a
# history's earlier steps, which share the question's words as much.
# Not 体现在 / 出现在 / 表现在 ("where does it show").
_NOW = r"(?<![体出表实呈展发])现在|目前|如今|现今|\bcurrent(?:ly)?\b|\bat present\b"
_ASKS_CURRENT = re.compile(rf"{_NOW}|当前|现任", re.I)
_HOLDS_NOW = re.compile(rf"{_NOW}|现任|现为|至今|现已|迄今", re.I)
ANSWER_TYPE_BONUS = 0.2
# A date the question is anchored on ("1992年4月，罗保铭担任什么职务？"): the sentence that
# holds the same date is the one about that moment of a career or a chronology. Keyword
# coverage sees only 1992 and 4, which the sentences of every other year share in part.
_DATE_ANCHOR = re.compile(r"\d{4}年(?:\d{1,2}月(?:\d{1,2}日)?)?")
# Larger than the answer-type bonus: an exact date is an exact match, where the shortlist's
# similarities (late-chunked) favour every sentence of the best-matching passage alike.
DATE_ANCHOR_BONUS = 0.5


# "What else is it called?" is answered by the sentence that gives another name (又名…, 别称…),
# which shares no word with the question's 别名.
_ASKS_ALIAS = re.compile(
    r"别名|别称|又名|又称|俗称|简称|全称|原名|本名|学名|还叫|也叫"
    r"|\balso (?:called|known)\b|\balias\b|\b(?:other|another) names?\b|\belse\b.*\bcalled\b",
    re.I,
)
_GIVES_ALIAS = re.compile(r"别名|别称|又名|又称|俗称|简称|亦称|也称|也叫|又叫|原名|本名|全称|学名|旧称|古称|亦作|或称")
# "什么是X？" / "X是什么？" asks for a definition: the sentence that opens with X and goes on to
# say what it is (X是…, X（…），…, X指…) — an encyclopedia's or a law's defining sentence.
_ASKS_DEFINITION = re.compile(
    r"^(?:什么是|何为|何谓)(?P<a>[^的，,？?]{2,20})[？?]?$|^(?P<b>[^的，,？?]{2,20})(?:是什么|指的是什么|是指什么|是什么意思)[？?]?$"
)
_SAYS_WHAT = frozenset("（(，,是指为又也亦即：:")
QUOTE_MARKS = "“”\"'「」『』《》 "


def _defines(question: str, sentence: str) -> bool:
    m = _ASKS_DEFINITION.match(question.strip())
    if not m:
        return False
    term = (m.group("a") or m.group("b")).strip(QUOTE_MARKS)
    head = sentence.lstrip(QUOTE_MARKS)
    return len(term) >= 2 and head.startswith(term) and head[len(term) : len(term) + 1] in _SAYS_WHAT


def answer_type_bonus(question: str, sentence: str) -> float:
    """How much `sentence` holds the kind of answer `question` asks for (0: nothing asked, or
    not held): DATE_ANCHOR_BONUS for the date the question is anchored on, else ANSWER_TYPE_BONUS."""
    return _bonus(question, sentence, generic=True)


def holds_specific_answer(question: str, text: str) -> bool:
    """`text` holds a kind of answer specific enough to single a passage out: the date the
    question is anchored on, another name or where a name comes from, a source, the definition
    asked for, an area. Not a plain year, date or number: an article's every passage has some,
    and "什么时候" is also answered by "自十八岁开始" (measured on the CMRC trial set, see the
    README)."""
    return _bonus(question, text, generic=False) > 0


# Kinds of answer as (what asks for it, what holds it), in the order a question is matched: the
# first kind a question asks for is the one. Specific kinds also rank passages
# (holds_specific_answer); the definition (_defines) is matched between the two specific groups.
_Kinds = tuple[tuple[re.Pattern[str], re.Pattern[str]], ...]
_NAMES: _Kinds = ((_ASKS_NAMING, _GIVES_NAMING), (_ASKS_ALIAS, _GIVES_ALIAS), (_ASKS_SOURCE, _GIVES_SOURCE))
_SIZE: _Kinds = ((_ASKS_SIZE, _HAS_SIZE),)
_GENERIC: _Kinds = (
    (_ASKS_PLACE, _HAS_PLACE),
    (_ASKS_PLACING, _HAS_PLACING),
    (_ASKS_ERA, _HAS_ERA),
    (_ASKS_YEAR, _HAS_YEAR),
    (_ASKS_TIME, _HAS_DATE),
    (_ASKS_NUMBER, _HAS_NUMBER),
    (_ASKS_CURRENT, _HOLDS_NOW),
)


def _first_kind(kinds: _Kinds, question: str, sentence: str) -> float | None:
    """The bonus for the first of `kinds` the question asks for (0 when the sentence does not
    hold it), or None when it asks for none of them."""
    for asks, holds in kinds:
        if asks.search(question):
            return ANSWER_TYPE_BONUS if holds.search(sentence) else 0.0
    return None


def _bonus(question: str, sentence: str, generic: bool) -> float:
    anchors = _DATE_ANCHOR.findall(question)
    if anchors and any(re.search(rf"(?<!\d){re.escape(a)}", sentence) for a in anchors):
        return DATE_ANCHOR_BONUS
    named = _first_kind(_NAMES, question, sentence)
    if named is not None:
        return named
    if _defines(question, sentence):
        return ANSWER_TYPE_BONUS
    found = _first_kind(_SIZE + _GENERIC if generic else _SIZE, question, sentence)
    return found or 0.0
