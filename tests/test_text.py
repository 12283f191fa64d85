from __future__ import annotations

import re

from conftest import PAGE

from qa.text import clean, is_heading, normalise_space


def test_lines_broken_mid_sentence_are_joined_without_spaces():
    raw = "湖南自贸区涵盖长沙、岳\n阳、郴州三大片区，实施范围\n119.76 平方公里。\n"
    assert clean(raw).text == "湖南自贸区涵盖长沙、岳阳、郴州三大片区，实施范围119.76平方公里。"


def test_stray_spaces_between_chinese_characters_are_dropped_but_latin_words_keep_theirs():
    assert normalise_space("加 工 贸 易 转 型") == "加工贸易转型"
    assert normalise_space("free  trade zone") == "free trade zone"
    assert clean("the free\ntrade zone is open.").text == "the free trade zone is open."


def test_paragraph_split_by_a_column_break_is_rejoined():
    raw = "自贸区长沙片区的辐射效应，将提速株洲\n\n“一谷三区”建设步伐。\n\n下一段。"
    assert clean(raw).text.split("\n") == ["自贸区长沙片区的辐射效应，将提速株洲“一谷三区”建设步伐。", "下一段。"]


def test_numbered_items_become_their_own_paragraphs():
    raw = "提出了3项改革事项：\n\n(1)第一项\n改革。\n(2)第二项。\n(3)第三项，依托人\n\n力资源。"
    assert clean(raw).text.split("\n") == [
        "提出了3项改革事项：",
        "(1)第一项改革。",
        "(2)第二项。",
        "(3)第三项，依托人力资源。",
    ]


def test_headings_become_sections_not_body():
    raw = "导语。\n\n【知多点】\n\n提出7大领域121项制度\n创新试验任务\n\n方案设定了7大领域的试验内容。\n"
    c = clean(raw)
    assert c.text == "导语。\n方案设定了7大领域的试验内容。"
    assert [s.title for s in c.sections] == ["【知多点】 › 提出7大领域121项制度创新试验任务"]
    assert c.sections[0].start == len("导语。\n")


def test_official_document_headings_form_a_section_path():
    raw = (
        "数据管理办法\n\n一、总体要求\n\n为规范秩序，制定本办法。\n\n二、基本原则\n\n（一）安全可控\n\n坚持安全。\n\n"
        "（二）开放共享\n\n推动开放。\n\n三、流通规则\n\n第一条 数据交易应当依法进行。\n"
    )
    c = clean(raw, default_title="file")
    assert c.title == "数据管理办法"
    assert [s.title for s in c.sections] == [
        "一、总体要求",
        "二、基本原则 › （一）安全可控",
        "二、基本原则 › （二）开放共享",
        "三、流通规则",
    ]
    assert "第一条数据交易应当依法进行。" in c.text


def test_table_rows_stay_separate_paragraphs():
    raw = "项目类别：工业互联网平台；补贴比例：30%\n\n项目类别：智能制造改造；补贴比例：20%\n"
    assert clean(raw).text.split("\n") == [
        "项目类别：工业互联网平台；补贴比例：30%",
        "项目类别：智能制造改造；补贴比例：20%",
    ]


def test_heading_rules():
    assert is_heading("相关链接")
    assert is_heading("2. 株洲为何要主动对接自贸区？")
    assert not is_heading("潘才良（市商粮局党组书记、局长）：")
    assert not is_heading("(8)研究开展高铁快运。")
    assert not is_heading("中科蓝海生物新冠检测试剂盒获得欧盟CE认证。任远 摄")


def test_doubled_overlay_text_is_undoubled():
    c = clean("正文。\n\n中欧中欧（（株洲株洲））班列首开莫斯科班列首开莫斯科 任远任远\n\n图注。")
    assert [s.title for s in c.sections] == ["中欧（株洲）班列首开莫斯科任远"]


def test_markdown_title_line_is_the_title():
    c = clean("# 标题\n\n正文。", default_title="file")
    assert c.title == "标题" and c.text == "正文。"
    assert clean("正文。", default_title="file").title == "file"


def test_control_characters_and_crlf_are_removed():
    assert clean("第一句\x00话。\r\n第二\x07句。").text == "第一句话。第二句。"


def test_the_page_keeps_every_character_of_its_body():
    raw = PAGE.read_text("utf-8")
    c = clean(raw)
    squashed_raw = re.sub(r"\s+", "", raw)
    assert c.title == "对接湖南自贸区 打造世界级先进制造业集群"
    # Every paragraph is verbatim (whitespace aside) from the page, and the key passages are whole.
    for para in c.text.split("\n"):
        assert re.sub(r"\s+", "", para) in squashed_raw or "班列首开莫斯科" in para
    assert "岳阳突出临港经济，打造长江中游综合性航运物流中心、内陆临港经济示范区；" in c.text
    assert "(11)统筹对非援助等有关资源，支持湖南依托人力资源培训资质单位" in c.text
    assert sum(1 for p in c.text.split("\n") if re.match(r"\(\d+\)", p)) == 11
