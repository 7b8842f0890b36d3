"""The SMS score parser: a table of real replies, then properties over any text (hypothesis)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedback.parsing import NUMBER_WORDS, SEPARATORS, ScoreReply, parse_score_reply


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5", ScoreReply(5, "")),
        (" 5!", ScoreReply(5, "")),
        ("five", ScoreReply(5, "")),
        ("Five, thanks!", ScoreReply(5, "thanks!")),
        ("5 great service", ScoreReply(5, "great service")),
        ("4 - quick and kind", ScoreReply(4, "quick and kind")),
        ("4/5", ScoreReply(4, "")),
        ("1", ScoreReply(1, "")),
        ("0", None),
        ("6", None),
        ("55", None),
        ("5.5", None),
        ("5a", None),
        ("one more question about my order", None),
        ("fiver", None),
        ("hello", None),
        ("", None),
        ("   ", None),
    ],
)
def test_csat_replies(text, expected):
    # given a CSAT question (1-5); when the customer replies `text`; then this is what counts
    assert parse_score_reply(text, low=1, high=5) == expected


def test_nps_accepts_zero_and_ten():
    assert parse_score_reply("10", low=0, high=10) == ScoreReply(10, "")
    assert parse_score_reply("zero", low=0, high=10) == ScoreReply(0, "")
    assert parse_score_reply("11", low=0, high=10) is None


scales = st.sampled_from([(1, 5), (1, 7), (0, 10)])
comments = st.text(alphabet=st.characters(categories=["L"]), min_size=1, max_size=20).flatmap(
    lambda first: st.text(max_size=40).map(lambda rest: first + rest)
)


@given(st.text(max_size=200), scales)
def test_any_text_is_either_no_score_or_a_score_on_the_scale(text, scale):
    low, high = scale
    parsed = parse_score_reply(text, low=low, high=high)
    assert parsed is None or low <= parsed.score <= high


@given(scales.flatmap(lambda s: st.tuples(st.just(s), st.integers(s[0], s[1]))), comments, st.text(" \t", max_size=3))
def test_a_score_followed_by_words_keeps_the_words_as_the_comment(scale_and_score, comment, padding):
    (low, high), score = scale_and_score
    parsed = parse_score_reply(f"{padding}{score} {comment}", low=low, high=high)
    assert parsed == ScoreReply(score, comment.strip())


@given(
    scales.flatmap(lambda s: st.tuples(st.just(s), st.integers(s[0], s[1]))),
    st.text(alphabet="!.) \t\n", max_size=4),
)
def test_whitespace_and_trailing_punctuation_do_not_change_the_score(scale_and_score, trailing):
    (low, high), score = scale_and_score
    assert parse_score_reply(f"  {score}{trailing}", low=low, high=high) == ScoreReply(score, "")


@given(scales, st.integers(min_value=11, max_value=10**6))
def test_numbers_off_the_scale_are_not_scores(scale, number):
    low, high = scale
    assert parse_score_reply(str(number), low=low, high=high) is None


@given(scales, st.sampled_from(sorted(NUMBER_WORDS)), st.sampled_from([str.lower, str.upper, str.title]))
def test_number_words_read_as_their_value_when_on_the_scale(scale, word, case):
    low, high = scale
    value = NUMBER_WORDS[word]
    expected = ScoreReply(value, "") if low <= value <= high else None
    assert parse_score_reply(case(word), low=low, high=high) == expected


@given(scales, st.text(alphabet=st.characters(categories=["L"]), min_size=1, max_size=30))
def test_text_starting_with_a_word_that_is_no_number_is_an_ordinary_message(scale, word):
    low, high = scale
    if word.lower() in NUMBER_WORDS or not word.isascii():
        return
    assert parse_score_reply(f"{word} 5", low=low, high=high) is None


def test_separators_are_plain_punctuation():
    assert set(SEPARATORS) >= {" ", "!", ".", ","}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("٥", 5),  # Arabic-Indic
        ("۴ ممنون", 4),  # Eastern Arabic-Indic, with a comment
        ("５", 5),  # full-width, as a Chinese keyboard types it
        ("３，还可以", 3),
        ("١٠", None),  # 10: off the CSAT scale
        ("৫", None),  # Bengali five: not a script cxhub's customers text scores in
    ],
)
def test_digits_of_other_scripts_read_as_their_value(text, expected):
    # given a CSAT question (1-5), when the customer answers with their phone's own digits
    parsed = parse_score_reply(text, low=1, high=5)
    # then the score is read as it is meant
    assert (parsed.score if parsed else None) == expected
