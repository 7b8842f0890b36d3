"""The survey questions of METRICS.md: keys, default wording and scales (pure, no ORM)."""

from dataclasses import dataclass


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
                question = Question(**{**question.__dict__, "text": text.strip()})
            chosen.append(question)
    return chosen


def frame_questions(questions: list[Question]) -> list[dict]:
    """The `questions` list of a `survey.request` frame: {"key", "text", "min", "max"}."""
    return [{"key": q.key, "text": q.text, "min": q.low, "max": q.high} for q in questions]
