"""Fixtures of the survey tests: a resolved conversation on any channel, with every on_commit run."""

import pytest

from chat import services
from tests.factories import agent_user, conversation_with


@pytest.fixture
def resolve(committed):
    """resolve(inbox, contact, agent=None, by_bot=False, reply=True): the customer writes, an agent
    replies, the agent resolves; returns the conversation (the survey is scheduled by then)."""

    def run(inbox, contact=None, *, agent=None, by_bot=False, reply=True, channel=None):
        agent = agent or agent_user(inbox)
        with committed():
            conversation = conversation_with(inbox, contact, channel=channel)
            if reply:
                services.message_send(conversation=conversation, by=agent, body="Here is your answer.")
            services.conversation_resolve(conversation=conversation, by=agent, by_bot=by_bot)
        conversation.refresh_from_db()
        return conversation

    return run
