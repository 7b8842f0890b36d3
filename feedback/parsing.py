"""Pure parsing of SMS survey replies: "5", " 5!", "five", "5 great service" (no ORM, no I/O)."""

import re
from dataclasses import dataclass

NUMBER_WORDS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
}

# Characters that may separate a score from the comment after it ("5! great", "5 - great").
SEPARATORS = " \t\r\n!.,;:-)*~"

_DIGITS = re.compile(r"[0-9]+")
# Digits as phones write them in other scripts: Arabic-Indic (٥), Eastern Arabic-Indic (۵) and
# full-width (５, a Chinese keyboard's) read as 0-9.
_OTHER_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹０１２３４５６７８９", "012345678901234567890123456789")
_WORD = re.compile(r"[A-Za-z]+")


@dataclass(frozen=True)
class ScoreReply:
    """A score the customer texted, and whatever they wrote after it."""

    score: int
    comment: str


def _comment(rest: str) -> str:
    return rest.lstrip(SEPARATORS).strip()


def parse_score_reply(text: str, *, low: int, high: int) -> ScoreReply | None:
    """The score at the start of `text` when it is one in low..high, else None.

    Digits may be followed by a comment ("5 great service"); "4/5" reads as 4; Arabic-Indic
    and full-width digits ("٥", "５") read as theirs. A number word ("five") counts only on
    its own or before punctuation ("five, thanks"), so that "one more question" stays an
    ordinary message. Anything else is None: the caller then treats the text as an ordinary
    message.
    """
    if not isinstance(text, str):
        return None
    text = text.strip()
    digits = re.match(r"[\d]+", text)
    if digits:  # only the leading score is rewritten: the comment keeps its own digits
        text = digits.group().translate(_OTHER_DIGITS) + text[digits.end() :]
    match = _DIGITS.match(text)
    if match:
        rest = text[match.end() :]
        if rest[:1].isalnum() or re.match(r"[.,][0-9]", rest):
            return None  # "5a", "5.5", "4,5": not a clean score
        out_of = re.match(rf"\s*(?:/|out of)\s*{high}(?![0-9])", rest)
        if out_of:
            rest = rest[out_of.end() :]
        score = int(match.group())
    else:
        match = _WORD.match(text)
        if not match or match.group().lower() not in NUMBER_WORDS:
            return None
        rest = text[match.end() :]
        after = rest.lstrip()
        if after and (after[0].isspace() or after[0] not in SEPARATORS):
            return None  # "one more question", "fiver"
        score = NUMBER_WORDS[match.group().lower()]
    if not low <= score <= high:
        return None
    return ScoreReply(score=score, comment=_comment(rest))
