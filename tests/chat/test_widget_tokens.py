"""Signed visitor tokens (docs/widget-identity.md, "Visitor tokens"; ADR 0016): the socket knows
whose a token is without a read, reads liveness and the session state in one statement, and a
revocation, an erasure or an unmerge still takes effect at once. Old opaque tokens keep working."""

import secrets
from dataclasses import astuple

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat import services, widget
from chat.models import VisitorToken, hash_token
from chat.privacy import contact_erase
from tests.chat.test_consumers import _fresh_channel_layer, close_code, db, still_open, widget_connect  # noqa: F401
from tests.chat.test_consumers import widget as widget_socket
from tests.factories import AgentFactory, ContactFactory, InboxFactory, conversation_with

pytestmark = [pytest.mark.django_db(transaction=True)]


async def refused(inbox, token: str) -> int:
    socket = await widget_connect(inbox)
    assert (await socket.connect())[0]
    await socket.send_json_to({"type": "auth", "token": token})
    return await close_code(socket)


async def new_visitor(inbox):
    session = await db(widget.widget_session_start, inbox=inbox)
    return session.visitor_token, session.contact


# --- the token -------------------------------------------------------------------------------


def test_a_session_issues_a_signed_token_that_names_its_stored_row():
    # given a web inbox
    inbox = InboxFactory()
    # when a visitor starts a session
    session = widget.widget_session_start(inbox=inbox)
    # then its token says whose it is, for which inbox and which row, and is stored hashed
    claims = widget.signed_visitor_token(session.visitor_token)
    row = VisitorToken.objects.get()
    assert (claims.contact_id, claims.inbox_id, claims.token_id) == (session.contact.pk, inbox.pk, row.pk)
    assert row.token_hash == hash_token(session.visitor_token)
    # and the same visitor coming back keeps it
    again = widget.widget_session_start(inbox=inbox, visitor_token=session.visitor_token)
    assert again.visitor_token == session.visitor_token


def test_an_altered_token_has_no_valid_signature():
    # given a signed token
    token = widget.widget_session_start(inbox=InboxFactory()).visitor_token
    value, signature = token.rsplit(":", 1)
    # when a claim in it is changed, or the signature is
    other_contact = value.split(".")
    other_contact[1] = str(int(other_contact[1]) + 1)
    # then neither verifies (the socket reads them by their hash, and finds nothing)
    assert widget.signed_visitor_token(".".join(other_contact) + ":" + signature) is None
    assert widget.signed_visitor_token(value + ":" + signature[:-2] + "xx") is None
    assert widget.signed_visitor_token("not a token") is None


def test_a_rotated_key_still_verifies_its_tokens_while_it_is_a_fallback(settings):
    # given a token signed with the key of before
    inbox = InboxFactory()
    session = widget.widget_session_start(inbox=inbox)
    old_key = settings.SECRET_KEY
    # when the key is rotated, the old one kept as a fallback
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a-new-key-" + "n" * 50, [old_key]
    # then the token still verifies
    assert widget.signed_visitor_token(session.visitor_token) is not None
    # and without the fallback it does not, but is still found by its hash (nobody is signed out)
    settings.SECRET_KEY_FALLBACKS = []
    assert widget.signed_visitor_token(session.visitor_token) is None
    assert widget.legacy_visitor_token(inbox, session.visitor_token).contact_id == session.contact.pk


def test_the_connect_reads_its_state_in_one_statement():
    # given a visitor with an open conversation, and an online agent
    inbox = InboxFactory()
    AgentFactory(inboxes=[inbox], availability="online")
    session = widget.widget_session_start(inbox=inbox)
    conversation = conversation_with(inbox, session.contact)
    claims = widget.signed_visitor_token(session.visitor_token)
    # when the socket reads what auth.ok needs
    with CaptureQueriesContext(connection) as queries:
        state = widget.widget_connect_state(contact_id=claims.contact_id, inbox_id=inbox.pk, token_id=claims.token_id)
    # then it is one statement, and says all of it
    assert len(queries) == 1
    assert state.token_live and state.agents_online and state.merged_into_id is None
    assert (state.conversation_id, state.conversation_inbox_id, state.status, state.last_seq) == (
        conversation.pk,
        inbox.pk,
        "open",
        1,
    )


def test_the_connect_statement_built_once_answers_for_each_visitor_as_the_orm_does():
    # given two inboxes, one with an online agent; a visitor of each, one with an open conversation,
    # and a revoked token
    staffed, empty = InboxFactory(), InboxFactory()
    AgentFactory(inboxes=[staffed], availability="online")
    first, second = widget.widget_session_start(inbox=staffed), widget.widget_session_start(inbox=empty)
    conversation_with(staffed, first.contact)
    revoked = widget.widget_session_start(inbox=staffed)
    widget.visitor_token_revoke(inbox=staffed, token=revoked.visitor_token)
    cases = []
    for session, inbox in [(first, staffed), (second, empty), (revoked, staffed), (first, empty)]:
        claims = widget.signed_visitor_token(session.visitor_token)
        cases.append(dict(contact_id=claims.contact_id, inbox_id=inbox.pk, token_id=claims.token_id))
    # when each connect reads its state through the statement compiled once
    states = [widget.widget_connect_state(**case) for case in cases]
    # then each is what the ORM's own query says
    for case, state in zip(cases, states, strict=True):
        row = widget._connect_state_query(**case, token_contact_id=case["contact_id"]).first()
        assert astuple(state) == (*row[:7], row[7] or 0, row[8])
    assert [(s.token_live, s.agents_online, s.status) for s in states] == [
        (True, True, "open"),
        (True, False, None),
        (False, True, None),
        (False, False, "open"),
    ]


# --- the socket ------------------------------------------------------------------------------


async def test_a_signed_token_signs_in():
    inbox = await db(InboxFactory)
    token, contact = await new_visitor(inbox)
    socket, ok = await widget_socket(inbox, token)
    assert ok["contact_id"] == contact.pk
    await socket.disconnect()


async def test_an_opaque_token_of_before_still_signs_in():
    # given a token issued before version 2: random, stored by its hash
    inbox = await db(InboxFactory)
    contact = await db(ContactFactory)
    raw = secrets.token_urlsafe(32)
    await db(VisitorToken.objects.create, inbox=inbox, contact=contact, token_hash=hash_token(raw))
    # when the widget signs in with it
    socket, ok = await widget_socket(inbox, raw)
    # then it is that contact
    assert ok["contact_id"] == contact.pk
    await socket.disconnect()


async def test_a_revoked_token_is_refused_at_once():
    # given a signed token, revoked
    inbox = await db(InboxFactory)
    token, _ = await new_visitor(inbox)
    await db(widget.visitor_token_revoke, inbox=inbox, token=token)
    # then its signature is still good, but the connect is refused
    assert widget.signed_visitor_token(token) is not None
    assert await refused(inbox, token) == 4401


async def test_an_erased_contacts_token_is_refused():
    inbox = await db(InboxFactory)
    token, contact = await new_visitor(inbox)
    await db(contact_erase, contact=contact, by=None)
    assert await refused(inbox, token) == 4401


async def test_a_token_of_another_inbox_is_refused():
    inbox, other = await db(InboxFactory), await db(InboxFactory)
    token, _ = await new_visitor(other)
    assert await refused(inbox, token) == 4401


async def test_a_well_signed_token_without_its_row_is_refused():
    # given someone holding the secret key who signs a token for a contact with another's row
    inbox = await db(InboxFactory)
    token, _ = await new_visitor(inbox)
    victim = await db(ContactFactory)
    claims = widget.signed_visitor_token(token)
    minted = widget._signed_token_text(
        contact_id=victim.pk, inbox_id=inbox.pk, token_id=claims.token_id, issued_at=claims.issued_at
    )
    # then the row does not back it: refused
    assert await refused(inbox, minted) == 4401


async def test_a_merged_contacts_token_follows_the_person():
    # given a visitor whose contact was merged into another with an open conversation
    inbox = await db(InboxFactory)
    token, source = await new_visitor(inbox)
    target = await db(ContactFactory)
    conversation = await db(conversation_with, inbox, target)
    agent = await db(AgentFactory, inboxes=[inbox])
    await db(services.contact_merge, source=source, target=target, by=agent.user)
    # when the widget signs in with the source's token
    socket, ok = await widget_socket(inbox, token)
    # then it is the person, with their conversation
    assert (ok["contact_id"], ok["conversation_id"]) == (target.pk, conversation.pk)
    # and when the merge is undone, the socket that followed the person closes at once
    await db(services.contact_unmerge, contact=source, by=agent.user)
    assert await close_code(socket) == 4401


async def test_revoking_one_token_leaves_the_contacts_other_token_signed_in():
    # given one visitor signed in on two devices, each with its own token
    inbox = await db(InboxFactory)
    token, contact = await new_visitor(inbox)
    other_token = await db(widget._issue_token, inbox=inbox, contact=contact, verified=False)
    socket, _ = await widget_socket(inbox, token)
    other, _ = await widget_socket(inbox, other_token)
    # when one token is revoked (its device signed out)
    await db(widget.visitor_token_revoke, inbox=inbox, token=token)
    # then its socket closes at once and the other stays
    assert await close_code(socket) == 4401
    await still_open(other)
    await other.disconnect()
