"""Writes of the feedback app: survey invitations and answers, follow-ups."""

import logging

logger = logging.getLogger(__name__)


def survey_schedule(*, conversation_id: int, resolution_number: int) -> None:
    """One invitation per resolution (built in the surveys issue)."""
    logger.debug("survey_schedule(%s, %s)", conversation_id, resolution_number)


def survey_cancel_scheduled(*, conversation_id: int) -> None:
    """A reopen cancels an invitation that is still only scheduled (built in the surveys issue)."""
    logger.debug("survey_cancel_scheduled(%s)", conversation_id)


def survey_answer(
    *,
    token: str,
    channel: str,
    csat: int | None = None,
    ces: int | None = None,
    nps: int | None = None,
    comment: str = "",
):
    """Record (or, within 24 h, edit) the answer to the invitation behind `token` (surveys issue)."""
    raise NotImplementedError("surveys are built in the surveys issue")


def sms_survey_reply(*, contact, inbox, body: str) -> bool:
    """An SMS that answers an open survey is consumed here (True); otherwise it is a message (False)."""
    return False
