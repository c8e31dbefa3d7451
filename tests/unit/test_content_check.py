"""Content security of report texts: the local check, and WeChat's with its fallback."""

from __future__ import annotations

import pytest

from backend.services.content_check import (
    PASS,
    REVIEW,
    RISKY,
    WORDS_FILE,
    check_text,
    default_words,
    local_check,
    normalise,
    parse_words,
)
from backend.wechat.fake_server import fake_openid

WORDS = parse_words(
    """
    # comment
    risky 20002 坏词
    review 10001 待看  # trailing comment
    """
)


def test_the_shipped_word_list_parses_and_has_both_kinds():
    words = default_words()
    assert words.risky and words.review
    assert WORDS_FILE.name == "report_sec_words.txt"
    # Hardship must never be refused: a family member's gambling is held, not refused.
    assert "赌博" in words.review and "赌博" not in words.risky


@pytest.mark.parametrize("line", ["risky 20002", "maybe 1 词", "risky label 词", "review"])
def test_a_malformed_word_list_line_is_an_error(line):
    with pytest.raises(ValueError, match="word list line 1"):
        parse_words(line)


def test_normalise_drops_spaces_and_punctuation():
    assert normalise("赌 博！") == "赌博"
    assert normalise("Ｆake-Risky") == "fakerisky"


@pytest.mark.parametrize(
    ("text", "suggest", "reason", "label"),
    [
        ("家里自来水停了三天，请帮忙看看", PASS, "", 100),
        ("这里有坏词", RISKY, "色情", 20002),
        ("这里有 坏-词", RISKY, "色情", 20002),
        ("请待看一下", REVIEW, "广告", 10001),
        ("啊啊啊啊", RISKY, "内容重复，没有说明具体问题", 21000),
        ("1111111", RISKY, "内容重复，没有说明具体问题", 21000),
        ("好好", PASS, "", 100),  # too short to call junk
        ("详情见 www.example.com 了解", REVIEW, "含有网址", 10001),
        ("看 http://a.cn/x", REVIEW, "含有网址", 10001),
        ("赚钱 haoyun.top 电话 13912345678", RISKY, "疑似广告（网址和电话）", 10001),
        ("找 13912345678 或 13812345678", REVIEW, "含有多个电话号码", 10001),
        ("我的电话 13912345678，房子漏雨", PASS, "", 100),
        ("村里电话 023-45600000 打不通", PASS, "", 100),
    ],
)
def test_local_check(text, suggest, reason, label):
    verdict = local_check(text, WORDS)
    assert (verdict.suggest, verdict.reason, verdict.label) == (suggest, reason, label)
    assert verdict.source == "local"


def test_without_openid_the_local_check_decides(app):
    with app.test_request_context():
        verdict = check_text(text="六合彩开奖", openid=None)
    assert (verdict.suggest, verdict.reason, verdict.source) == (RISKY, "违法犯罪", "local")
    assert verdict.as_record()["rule"] == "word"


@pytest.mark.parametrize(
    ("text", "suggest", "reason", "label"),
    [
        ("家里自来水停了三天", PASS, "", 100),
        ("fake-risky", RISKY, "违法犯罪", 20006),
        ("fake-review", REVIEW, "其他", 21000),
        ("色情", RISKY, "色情", 20002),
        # WeChat decides: a word only the local list knows passes.
        ("六合彩", PASS, "", 100),
    ],
)
def test_with_openid_wechat_decides(wechat_app, fake_wechat, text, suggest, reason, label):
    with wechat_app.test_request_context():
        verdict = check_text(text=text, openid=fake_openid("villager"))
    assert (verdict.suggest, verdict.reason, verdict.label) == (suggest, reason, label)
    assert verdict.source == "wechat"
    assert verdict.detail["trace_id"]
    [call] = fake_wechat.calls("msg_sec_check")
    assert call["suggest"] == suggest


def test_a_wechat_error_falls_back_to_the_local_check(wechat_app, fake_wechat):
    # The fake answers 40003 for an openid that does not look like WeChat's.
    with wechat_app.test_request_context():
        verdict = check_text(text="六合彩", openid="not-an-openid")
    assert (verdict.suggest, verdict.source) == (RISKY, "local")
    assert verdict.as_record()["wechat_errcode"] == 40003


def test_wechat_unreachable_falls_back_to_the_local_check(app):
    # The test app's WECHAT_API_BASE is a closed port.
    with app.test_request_context():
        verdict = check_text(text="家里没水了", openid=fake_openid("villager"))
    assert (verdict.suggest, verdict.source) == (PASS, "local")
    assert verdict.detail["wechat_errcode"] is None
