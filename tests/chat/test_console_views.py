"""The server-rendered pages (console, login, demo) and the canned-responses endpoint."""

import re

import pytest

from chat.models import CannedResponse
from tests.factories import PASSWORD, InboxFactory, SupervisorFactory, UserFactory, agent_user, conversation_with

pytestmark = pytest.mark.django_db

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
INLINE_STYLE = re.compile(r"\sstyle\s*=", re.IGNORECASE)


def assert_no_inline_code(html: str) -> None:
    assert not INLINE_SCRIPT.search(html), "inline <script> found"
    assert not INLINE_HANDLER.search(html), "inline event handler found"
    assert not INLINE_STYLE.search(html), "inline style attribute found"


@pytest.mark.parametrize("path", ["/console/", "/console/c/1/"])
def test_console_requires_login(client, path):
    # given nobody logged in
    # when they open the console
    response = client.get(path)
    # then they are sent to the login page, coming back afterwards
    assert response.status_code == 302
    assert response["Location"] == f"/console/login/?next={path}"


def test_login_page_logs_an_agent_in_and_redirects_to_the_console(client):
    # given an agent
    user = agent_user(InboxFactory())
    # when they submit the login form
    page = client.get("/console/login/")
    response = client.post("/console/login/", {"username": user.username, "password": PASSWORD, "next": "/console/"})
    # then the form was served without inline code and they land in the console
    assert page.status_code == 200
    assert_no_inline_code(page.content.decode())
    assert response.status_code == 302
    assert response["Location"] == "/console/"
    assert client.get("/console/").status_code == 200


def test_login_with_a_wrong_password_shows_an_error(client):
    # given an agent
    user = agent_user(InboxFactory())
    # when they type a wrong password
    response = client.post("/console/login/", {"username": user.username, "password": "nope"})
    # then the page says so and nobody is logged in
    assert response.status_code == 200
    assert "do not match" in response.content.decode()
    assert client.get("/console/").status_code == 302


def test_logged_in_user_on_the_login_page_goes_to_the_console(client):
    # given a logged-in agent
    client.force_login(agent_user(InboxFactory()))
    # when they open the login page
    response = client.get("/console/login/")
    # then they are sent on to the console
    assert response.status_code == 302
    assert response["Location"] == "/console/"


def test_logout_takes_a_post_and_ends_the_session(client):
    # given a logged-in agent
    client.force_login(agent_user(InboxFactory()))
    # when they try GET, then POST to the logout URL
    get = client.get("/console/logout/")
    post = client.post("/console/logout/")
    # then only the POST logs out, back to the login page
    assert get.status_code == 405
    assert post.status_code == 302
    assert post["Location"] == "/console/login/"
    assert client.get("/console/").status_code == 302


def test_console_page_has_the_nav_filters_of_the_agents_inboxes_and_no_inline_code(client):
    # given an agent of one inbox, and an inbox they are not a member of
    mine = InboxFactory(name="Shop chat")
    InboxFactory(name="Secret partner inbox")
    client.force_login(agent_user(mine))
    # when they open the console
    response = client.get("/console/")
    html = response.content.decode()
    # then the nav, the filters of their inbox (only) and the scripts are there, all code in files
    assert response.status_code == 200
    for link in ('href="/console/"', 'href="/console/dashboard/"', 'href="/console/followups/"'):
        assert link in html
    assert 'href="/admin/"' not in html  # not staff
    assert 'id="availability-switch"' in html
    assert "Shop chat" in html
    assert "Secret partner inbox" not in html
    assert "console/app.js" in html and "console/nav.js" in html
    assert 'id="supervisor"' not in html
    assert_no_inline_code(html)


def test_staff_supervisor_sees_admin_link_and_the_queue(client):
    # given a staff supervisor
    supervisor = SupervisorFactory(user=UserFactory(is_staff=True)).user
    client.force_login(supervisor)
    # when they open the console
    html = client.get("/console/").content.decode()
    # then the Admin link and the queue panel are shown
    assert 'href="/admin/"' in html
    assert 'id="supervisor"' in html


def test_conversation_deep_link_renders_the_console_with_that_id(client):
    # given an agent and a conversation in their inbox
    inbox = InboxFactory()
    client.force_login(agent_user(inbox))
    conversation = conversation_with(inbox, body="Hello")
    # when they open /console/c/<id>/
    response = client.get(f"/console/c/{conversation.pk}/")
    # then the shell carries the id for the script to open
    assert response.status_code == 200
    assert f'data-conversation-id="{conversation.pk}"' in response.content.decode()


@pytest.mark.parametrize("kind", ["foreign", "missing"])
def test_deep_link_to_a_conversation_outside_the_agents_inboxes_is_404(client, kind):
    # given an agent, and a conversation in an inbox they are not a member of
    client.force_login(agent_user(InboxFactory()))
    foreign = conversation_with(InboxFactory(), body="Not yours")
    conversation_id = foreign.pk if kind == "foreign" else foreign.pk + 1000
    # when they open its deep link
    response = client.get(f"/console/c/{conversation_id}/")
    # then it is as if it did not exist
    assert response.status_code == 404


def test_demo_page_embeds_the_widget_of_the_first_web_inbox(client):
    # given an email inbox and two web inboxes
    InboxFactory(channel="email", email_address="help@acme.test")
    first = InboxFactory(name="Shop")
    InboxFactory(name="Other shop")
    # when anyone opens /demo/
    response = client.get("/demo/")
    html = response.content.decode()
    # then one script tag embeds the first web inbox's widget, with no inline code
    assert response.status_code == 200
    assert f'data-inbox="{first.public_id}"' in html
    assert len(re.findall(r'<script src="[^"]*chat/widget\.js" data-inbox=', html)) == 1
    assert_no_inline_code(html)


def test_demo_page_without_a_web_inbox_explains_what_to_do(client):
    # given no web inbox
    # when anyone opens /demo/
    html = client.get("/demo/").content.decode()
    # then it says how to get one, and embeds nothing
    assert "No web inbox exists yet" in html
    assert "<script" not in html


# --- /api/v1/canned-responses/ ------------------------------------------------------------


@pytest.fixture
def canned():
    return [
        CannedResponse.objects.create(shortcut="refund", body="Your refund is on its way."),
        CannedResponse.objects.create(shortcut="thanks", body="Thank you!"),
        CannedResponse.objects.create(shortcut="return-label", body="Here is your return label."),
    ]


def test_canned_responses_need_a_login(api, canned):
    # given nobody logged in
    # when they ask for the canned responses
    response = api.get("/api/v1/canned-responses/")
    # then they are refused with the JSON error shape
    assert response.status_code in (401, 403)
    assert "error" in response.json()


def test_canned_responses_list_by_shortcut_for_an_agent(as_user, canned):
    # given an agent
    client = as_user(agent_user(InboxFactory()))
    # when they list the canned responses
    response = client.get("/api/v1/canned-responses/")
    # then every response comes, ordered by shortcut
    assert response.status_code == 200
    assert [item["shortcut"] for item in response.json()] == ["refund", "return-label", "thanks"]
    assert set(response.json()[0]) == {"id", "shortcut", "body", "texts"}  # texts: the body in other languages


@pytest.mark.parametrize(
    ("query", "expected"),
    [("re", ["refund", "return-label"]), ("/ret", ["return-label"]), ("TH", ["thanks"]), ("zzz", [])],
)
def test_canned_responses_filter_by_shortcut_prefix(as_user, canned, query, expected):
    # given an agent
    client = as_user(agent_user(InboxFactory()))
    # when they type a shortcut prefix (with or without the slash)
    response = client.get("/api/v1/canned-responses/", {"q": query})
    # then only the matching shortcuts come back
    assert [item["shortcut"] for item in response.json()] == expected


def test_canned_response_detail_and_no_writes(as_user, canned):
    # given an agent
    client = as_user(agent_user(InboxFactory()))
    # when they read one, ask for a missing one, and try to write
    one = client.get(f"/api/v1/canned-responses/{canned[0].pk}/")
    missing = client.get("/api/v1/canned-responses/999999/")
    created = client.post("/api/v1/canned-responses/", {"shortcut": "x", "body": "y"}, format="json")
    # then reads work, a missing one is a JSON 404 and the endpoint is read-only
    assert one.status_code == 200 and one.json()["body"] == "Your refund is on its way."
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert created.status_code == 405
    assert CannedResponse.objects.count() == 3


def test_inactive_user_gets_no_canned_responses(as_user, canned):
    # given a deactivated agent still holding a session
    user = agent_user(InboxFactory())
    user.is_active = False
    user.save()
    # when they ask for the canned responses
    response = as_user(user).get("/api/v1/canned-responses/")
    # then nothing is listed
    assert response.status_code in (200, 401, 403)
    if response.status_code == 200:
        assert response.json() == []


@pytest.mark.parametrize("pk", ["99999999999999999999999", "0"])
def test_canned_response_ids_beyond_the_database_are_404(as_user, canned, pk):
    # given an agent
    client = as_user(agent_user(InboxFactory()))
    # when they ask for an id no database row can have
    response = client.get(f"/api/v1/canned-responses/{pk}/")
    # then it is a JSON 404, not a server error
    assert response.status_code == 404


def test_canned_response_prefix_with_nul_or_junk_is_harmless(as_user, canned):
    # given an agent
    client = as_user(agent_user(InboxFactory()))
    # when the prefix carries a NUL byte and is very long
    response = client.get("/api/v1/canned-responses/", {"q": "re\x00" + "x" * 500})
    # then the request is refused as bad input (the site refuses NUL anywhere), never a 500
    assert response.status_code == 400
    assert "error" in response.json()
    # and a long junk prefix alone is an ordinary (empty) list
    assert client.get("/api/v1/canned-responses/", {"q": "x" * 500}).json() == []
