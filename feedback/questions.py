"""The survey questions of the metric definitions (docs/metrics.md): keys, wording and scales (pure, no ORM).

This module is the one source of the survey's wording. The survey page, the email (HTML and
text), the SMS prompts and the widget's card (through the `survey.request` frame) all take the
question texts and the scale's end labels from here; an inbox's policy may override a
question's text (`SurveyPolicy.wording`), never its scale or labels. No other file spells a
label (tests/feedback/test_survey_wording.py checks it).
"""

from dataclasses import dataclass, replace

SURVEY_TITLE = "How did we do?"


@dataclass(frozen=True)
class Question:
    key: str
    text: str
    low: int | None = None  # None: a free-text question
    high: int | None = None
    low_label: str = ""
    high_label: str = ""

    @property
    def is_score(self) -> bool:
        return self.low is not None


QUESTIONS: dict[str, Question] = {
    "csat": Question(
        "csat", "How satisfied are you with the help you received?", 1, 5, "Very dissatisfied", "Very satisfied"
    ),
    "ces": Question(
        "ces", "The company made it easy for me to handle my issue.", 1, 7, "Strongly disagree", "Strongly agree"
    ),
    "nps": Question(
        "nps",
        "How likely are you to recommend us to a friend or colleague?",
        0,
        10,
        "Not at all likely",
        "Extremely likely",
    ),
    "comment": Question("comment", "Anything you would like to tell us?"),
}
SCORE_KEYS = ("csat", "ces", "nps")
COMMENT_MAX_CHARS = 2000


def questions_for(keys: list[str], wording: dict | None = None) -> list[Question]:
    """The questions of a policy or invitation, in the canonical order, with the policy's wording."""
    wording = wording or {}
    chosen = []
    for key in QUESTIONS:
        if key in keys:
            question = QUESTIONS[key]
            text = wording.get(key)
            if isinstance(text, str) and text.strip():
                question = replace(question, text=text.strip())
            chosen.append(question)
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
    """The text message asking one score question, answered by a number in reply."""
    return (
        f"{question.text} Reply {question.low}-{question.high} "
        f"({question.low} = {question.low_label}, {question.high} = {question.high_label})."
    )
