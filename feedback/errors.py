"""feedback's error codes: stable strings clients switch on (JSON errors, the survey page, frames)."""

from enum import StrEnum


class ErrorCode(StrEnum):
    SURVEY_NOT_FOUND = "survey_not_found"
    SURVEY_EXPIRED = "survey_expired"
    SURVEY_ANSWERED = "survey_answered"
    FOLLOW_UP_CLOSED = "follow_up_closed"
    PERIOD_TOO_LONG = "period_too_long"
