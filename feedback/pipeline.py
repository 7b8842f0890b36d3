"""The metrics pipeline's entry: events and answers become facts and rollups."""

import logging

logger = logging.getLogger(__name__)


def event_arrived(*, event_id: int) -> None:
    """Called for every ConversationEvent after commit (built in the metrics issue)."""
    logger.debug("event %s arrived", event_id)
