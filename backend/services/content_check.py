"""Content security of villagers' report texts: WeChat's msg_sec_check, else a local check.

Three outcomes, whichever check decides:

- ``pass``: the report goes on and opens (or joins) a problem;
- ``review``: the report is kept but held until a town admin releases or discards it;
- ``risky``: the report is refused with the reason (422 ``report.content_refused``).

A reporter who came through the mini-program has an openid, and WeChat's ``msg_sec_check``
(version 2) judges the text. Without an openid, or when WeChat cannot answer (unreachable, busy,
an error code), the local check judges it: a word list (``backend/data/report_sec_words.txt``)
and three heuristics against junk and advertising:

- the same character over and over ("啊啊啊啊", "1111111"): ``risky``, nothing to act on;
- a web address, or several different phone numbers: ``review`` (spam, or a villager quoting
  something; a person decides);
- a web address and a phone number together: ``risky`` (advertising).

One phone number alone is normal: villagers leave their own number to be called back.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from backend.wechat import WeChatError, get_wechat_client

log = logging.getLogger(__name__)

PASS = "pass"
REVIEW = "review"
RISKY = "risky"
SUGGESTIONS = (PASS, REVIEW, RISKY)

# WeChat's msg_sec_check v2 labels, and the reasons we show people.
LABELS: dict[int, str] = {
    100: "正常",
    10001: "广告",
    20001: "时政",
    20002: "色情",
    20003: "辱骂",
    20006: "违法犯罪",
    20008: "欺诈",
    20012: "低俗",
    20013: "版权",
    21000: "其他",
}
REASON_REPEATED = "内容重复，没有说明具体问题"
REASON_LINK = "含有网址"
REASON_PHONES = "含有多个电话号码"
REASON_ADVERT = "疑似广告（网址和电话）"
# msg_sec_check scene 3 (论坛): a post that other people (the village and town staff) read.
WECHAT_SCENE = 3
WORDS_FILE = Path(__file__).resolve().parent.parent / "data" / "report_sec_words.txt"

_URL_RE = re.compile(
    r"(?:https?://|www\.)\S+|\b[a-z0-9-]{2,63}\.(?:com|cn|net|org|top|xyz|cc|vip|info|shop|site)\b",
    re.IGNORECASE,
)
# Mainland mobile numbers, and landlines with an area code (023-45600000).
_PHONE_RE = re.compile(r"(?<!\d)(?:1[3-9]\d{9}|0\d{2,3}-?\d{7,8})(?!\d)")
_MIN_REPEATED = 3


@dataclass(frozen=True)
class Verdict:
    """The outcome of a content check, and what it rests on."""

    suggest: str  # pass | review | risky
    reason: str = ""  # Chinese, shown to the reporter when refused and to staff when held
    label: int | None = None  # WeChat's label code, also used by the word list
    source: str = "local"  # wechat | local
    detail: dict[str, Any] = field(default_factory=dict)

    def as_record(self) -> dict[str, Any]:
        """What a report keeps of the check (``reports.moderation_detail``)."""
        return {
            "suggest": self.suggest,
            "reason": self.reason,
            "label": self.label,
            "source": self.source,
            **self.detail,
        }


@dataclass(frozen=True)
class WordList:
    """Words that make a text risky or held, each with its label."""

    risky: dict[str, int]
    review: dict[str, int]


def parse_words(text: str) -> WordList:
    """Parse the word-list format (``<suggest> <label> <word>`` per line, ``#`` comments)."""
    risky: dict[str, int] = {}
    review: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split(None, 2)
        if len(parts) != 3 or parts[0] not in (RISKY, REVIEW) or not parts[1].isdigit():
            raise ValueError(f"word list line {number}: expected '<risky|review> <label> <word>'")
        word = normalise(parts[2])
        if word:
            (risky if parts[0] == RISKY else review)[word] = int(parts[1])
    return WordList(risky=risky, review=review)


@lru_cache(maxsize=1)
def default_words() -> WordList:
    """The shipped word list, read once per process."""
    return parse_words(WORDS_FILE.read_text(encoding="utf-8"))


def normalise(text: str) -> str:
    """Lower-case NFKC text with letters and digits only, so "赌 博" and "赌-博" match "赌博"."""
    folded = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in folded if unicodedata.category(ch)[0] in ("L", "N"))


def label_reason(label: int | None) -> str:
    """The Chinese name of a WeChat label code."""
    return LABELS.get(label or 0, LABELS[21000])


def local_check(text: str, words: WordList | None = None) -> Verdict:
    """Judge ``text`` with the word list and the junk heuristics, without any network."""
    words = words if words is not None else default_words()
    compact = normalise(text)
    for table, suggest in ((words.risky, RISKY), (words.review, REVIEW)):
        hit = next((w for w in table if w in compact), None)
        if hit is not None:
            return Verdict(
                suggest,
                label_reason(table[hit]),
                table[hit],
                detail={"rule": "word", "word": hit},
            )
    if len(compact) >= _MIN_REPEATED and len(set(compact)) == 1:
        return Verdict(RISKY, REASON_REPEATED, 21000, detail={"rule": "repeated"})
    has_link = _URL_RE.search(text) is not None
    phones = set(_PHONE_RE.findall(text))
    if has_link and phones:
        return Verdict(RISKY, REASON_ADVERT, 10001, detail={"rule": "advert"})
    if has_link:
        return Verdict(REVIEW, REASON_LINK, 10001, detail={"rule": "link"})
    if len(phones) >= 2:
        return Verdict(REVIEW, REASON_PHONES, 10001, detail={"rule": "phones"})
    return Verdict(PASS, "", 100, detail={"rule": "none"})


def check_text(*, text: str, openid: str | None) -> Verdict:
    """WeChat's verdict when the reporter has an openid and WeChat answers, else the local one."""
    if not openid:
        return local_check(text)
    try:
        result = get_wechat_client().msg_sec_check(text, openid, WECHAT_SCENE)
    except WeChatError as exc:
        # An outage must not stop villagers from reporting: the local check stands in.
        log.warning("msg_sec_check unavailable (errcode=%s): using the local check", exc.errcode)
        verdict = local_check(text)
        return Verdict(
            verdict.suggest,
            verdict.reason,
            verdict.label,
            "local",
            {**verdict.detail, "wechat_errcode": exc.errcode},
        )
    suggest = result.suggest if result.suggest in SUGGESTIONS else REVIEW
    return Verdict(
        suggest,
        "" if suggest == PASS else label_reason(result.label),
        result.label,
        "wechat",
        {"trace_id": result.trace_id},
    )
