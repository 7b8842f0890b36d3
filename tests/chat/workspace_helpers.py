"""What the workspace's tests share: a client per user, and a desk of two inboxes with people and labels."""

import pytest
from rest_framework.test import APIClient

from chat import workspace
from tests.factories import InboxFactory, SupervisorFactory, TeamFactory, agent_user


def client_of(user) -> APIClient:
    """A client of its own per user (the `as_user` fixture shares one)."""
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def desk():
    """Inbox A with agents alice and bob, inbox B with carol, a supervisor, labels VIP and Bug, team Billing."""
    a, b = InboxFactory(name="A"), InboxFactory(name="B")
    supervisor = SupervisorFactory().user
    return {
        "a": a,
        "b": b,
        "alice": agent_user(a),
        "bob": agent_user(a),
        "carol": agent_user(b),
        "supervisor": supervisor,
        "vip": workspace.label_create(by=supervisor, name="VIP", colour="#FF0000"),
        "bug": workspace.label_create(by=supervisor, name="Bug", colour="#00ff00"),
        "billing": TeamFactory(name="Billing"),
    }
