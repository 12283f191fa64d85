"""The question's language and the user-facing messages in Chinese and English."""

from __future__ import annotations

import re

_HAN = re.compile(r"[\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")


def detect_lang(text: str) -> str:
    """'zh' when the text has Chinese characters and not mostly Latin words, else 'en'."""
    han = len(_HAN.findall(text))
    latin = len(_LATIN.findall(text))
    if han == 0 and latin == 0:
        return "zh"
    return "zh" if han * 3 >= latin else "en"


MESSAGES = {
    "not_found": {
        "zh": "文档中没有找到这个问题的答案。",
        "en": "The documents do not cover this question.",
    },
    "maybe": {
        "zh": "您可能想问的相关段落：",
        "en": "You may mean these related passages:",
    },
    "partial": {
        "zh": "文档只部分涉及这个问题：文档中没有提到“{missing}”。以下是文档中相关的内容：",
        "en": 'The documents only partly cover this question: they do not mention "{missing}". '
        "From the Chinese sources, here is what they do say:",
    },
    "partial_named": {
        "zh": "文档没有用问题里的说法回答这个问题。以下是《{title}》中最相关的内容：",
        "en": "The documents do not answer this in the question's words. "
        "From the Chinese source “{title}”, here is what comes closest:",
    },
    "from_chinese": {
        "zh": "",
        "en": "From the Chinese sources:",
    },
    "list_item": {
        "zh": "“{item}”一条的全文，出自《{where}》：",
        "en": "The item “{item}” in full, from “{where}”:",
    },
    "list_coverage": {
        "zh": "共 {n} 条，出自《{where}》：",
        "en": "{n} items, from “{where}”:",
    },
    "empty": {
        "zh": "请输入一个问题。",
        "en": "Please type a question.",
    },
    "too_long": {
        "zh": "问题太长了（最多 {limit} 个字符），请简短一些。",
        "en": "The question is too long (at most {limit} characters); please shorten it.",
    },
    "no_such_document": {
        "zh": "没有文件名或标题与“{pattern}”相符的文档。",
        "en": 'No document has a file name or title matching "{pattern}".',
    },
    "error": {
        "zh": "抱歉，处理这个问题时出错了，请稍后再试。",
        "en": "Sorry, something went wrong while answering; please try again.",
    },
}


def message(key: str, lang: str, **kwargs: object) -> str:
    options = MESSAGES[key]
    text = options[lang] if lang in options else options["en"]
    return text.format(**kwargs) if kwargs else text
