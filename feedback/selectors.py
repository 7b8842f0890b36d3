"""Reads of the feedback app, scoped like chat's selectors."""


def contact_survey_history(user, contact) -> list[dict]:
    """A contact's survey answers, newest first (filled in by the surveys issue)."""
    return []
