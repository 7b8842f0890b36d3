"""Writes of the feedback app: survey invitations and answers, follow-ups."""

import logging

logger = logging.getLogger(__name__)


def survey_schedule(*, conversation_id: int, resolution_number: int) -> None:
    """One invitation per resolution (built in the surveys issue)."""
    logger.debug("survey_schedule(%s, %s)", conversation_id, resolution_number)


def survey_cancel_scheduled(*, conversation_id: int) -> None:
    """A reopen cancels an invitation that is still only scheduled (built in the surveys issue)."""
    logger.debug("survey_cancel_scheduled(%s)", conversation_id)
