"""The survey questions of the metric definitions (docs/metrics.md): keys, wording and scales (pure, no ORM).

This module is the one source of the survey's wording, in every shipped language: the texts are
marked for translation here and translated in locale/<language>/LC_MESSAGES/django.po. The survey
page, the email (HTML and text), the SMS prompts and the widget's card (through the
`survey.request` frame) all take the title, the question texts and the scale's end labels from
here, in the language active when they are built (the customer's: chat.languages.speaking_to).
An inbox's policy may reword a question per language (`SurveyPolicy.wording`, {"ru": {"csat":
"…"}}), never its scale or labels. No other file spells a label (tests/feedback/test_survey_wording.py
checks it).

SMS: each score question has its own prompt (`sms_text`), short enough for one text message in
every shipped language (70 characters where the text needs UCS-2: Chinese, Russian, Arabic;
tests/feedback/test_sms_segments.py checks it). A reworded question is asked by SMS as "<text>
Reply low-high (…)", which the policy's validation keeps to one message too.
"""

from dataclasses import dataclass

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

SURVEY_TITLE = _("How did we do?")


@dataclass(frozen=True)
class Question:
    key: str
    text: str
    low: int | None = None  # None: a free-text question
    high: int | None = None
    low_label: str = ""
    high_label: str = ""
    sms_text: str = ""  # the SMS prompt of the default wording (one text message)

    @property
    def is_score(self) -> bool:
        return self.low is not None


QUESTIONS: dict[str, Question] = {
    "csat": Question(
        "csat",
        _("How satisfied are you with the help you received?"),
        1,
        5,
        _("Very dissatisfied"),
        _("Very satisfied"),
        _("How satisfied are you with the help you received? Reply 1-5 (1 = Very dissatisfied, 5 = Very satisfied)."),
    ),
    "ces": Question(
        "ces",
        _("The company made it easy for me to handle my issue."),
        1,
        7,
        _("Strongly disagree"),
        _("Strongly agree"),
        _("The company made it easy for me to handle my issue. Reply 1-7 (1 = Strongly disagree, 7 = Strongly agree)."),
    ),
    "nps": Question(
        "nps",
        _("How likely are you to recommend us to a friend or colleague?"),
        0,
        10,
        _("Not at all likely"),
        _("Extremely likely"),
        _(
            "How likely are you to recommend us to a friend or colleague? "
            "Reply 0-10 (0 = Not at all likely, 10 = Extremely likely)."
        ),
    ),
    "comment": Question("comment", _("Anything you would like to tell us?")),
}
SCORE_KEYS = ("csat", "ces", "nps")
COMMENT_MAX_CHARS = 2000


def survey_title() -> str:
    """The survey's title in the active language."""
    return str(SURVEY_TITLE)


def wording_in(wording: dict | None, language: str, default_language: str) -> dict[str, str]:
    """A policy's own question texts in one language.

    `wording` is {"<language>": {"<key>": "text"}}; a flat {"<key>": "text"} (the shape before
    languages) is the inbox's default language's.
    """
    wording = wording if isinstance(wording, dict) else {}
    own = wording.get(language)
    texts = dict(own) if isinstance(own, dict) else {}
    if language == default_language:
        for key, text in wording.items():
            if key in QUESTIONS:
                texts.setdefault(key, text)
    return {
        key: text.strip() for key, text in texts.items() if key in QUESTIONS and isinstance(text, str) and text.strip()
    }


def questions_for(keys: list[str], wording: dict | None = None, *, default_language: str = "") -> list[Question]:
    """The questions of a policy or invitation, in the canonical order, worded in the active
    language: the policy's own text for that language where it has one, else the default's
    translation. `default_language` is the inbox's (whose texts a flat `wording` holds)."""
    language = translation.get_language() or settings.LANGUAGE_CODE
    texts = wording_in(wording, language, default_language or settings.LANGUAGE_CODE)
    chosen = []
    for key, question in QUESTIONS.items():
        if key not in keys:
            continue
        own = texts.get(key)
        chosen.append(
            Question(
                key,
                own or str(question.text),
                question.low,
                question.high,
                str(question.low_label),
                str(question.high_label),
                "" if own or not question.sms_text else str(question.sms_text),
            )
        )
    return chosen


def frame_questions(questions: list[Question]) -> list[dict]:
    """The `questions` of a `survey.request` frame: {"key", "text", "min", "max", "low_label", "high_label"}.

    The widget shows exactly these texts (min/max and the labels are null for the comment).
    """
    return [
        {
            "key": q.key,
            "text": q.text,
            "min": q.low,
            "max": q.high,
            "low_label": q.low_label or None,
            "high_label": q.high_label or None,
        }
        for q in questions
    ]


def sms_prompt(question: Question) -> str:
    """The text message asking one score question, answered by a number in reply (one SMS)."""
    if question.sms_text:
        return question.sms_text
    return gettext("%(question)s Reply %(low)s-%(high)s (%(low)s = %(low_label)s, %(high)s = %(high_label)s).") % {
        "question": question.text,
        "low": question.low,
        "high": question.high,
        "low_label": question.low_label,
        "high_label": question.high_label,
    }


def sms_thanks() -> str:
    """The text message after the last answer of an SMS survey."""
    return gettext("Thank you for your feedback!")
