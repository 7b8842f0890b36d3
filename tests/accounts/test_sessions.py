"""Login sessions: listed, ended from the console and the API; an ended session is signed out at
once and its console socket closes (a real server and websocket client)."""

import json
import time
import urllib.request

import pytest
from django.test import Client
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from accounts.models import AgentSession
from chat.models import AuditLog
from tests.factories import PASSWORD, AgentFactory, UserFactory


def signed_in(user, user_agent: str = "Firefox on a laptop") -> Client:
    """A browser that signed in with the password and opened one page (so the session is listed)."""
    client = Client(HTTP_USER_AGENT=user_agent)
    assert client.login(username=user.username, password=PASSWORD)
    assert client.get("/console/account/").status_code == 200
    return client


@pytest.mark.django_db
def test_an_agent_lists_their_sessions_and_ends_one_from_the_api():
    # given an agent signed in from a laptop and from a phone
    user = AgentFactory().user
    laptop, phone = signed_in(user), signed_in(user, "Safari on a phone")
    # when they list their sessions from the laptop
    listed = laptop.get("/api/v1/account/sessions/").json()
    # then both are there, the laptop's marked current
    assert sorted((row["user_agent"], row["current"]) for row in listed) == [
        ("Firefox on a laptop", True),
        ("Safari on a phone", False),
    ]
    # when they end the phone's
    phone_id = next(row["id"] for row in listed if not row["current"])
    assert laptop.delete(f"/api/v1/account/sessions/{phone_id}/").status_code == 204
    # then the phone is signed out (console: to the login page; API: not authenticated)
    assert phone.get("/console/")["Location"].startswith("/console/login/")
    assert phone.get("/api/v1/conversations/").status_code == 403
    assert [row["current"] for row in laptop.get("/api/v1/account/sessions/").json()] == [True]


@pytest.mark.django_db
def test_someone_elses_session_is_not_found_unless_an_admin_ends_it():
    # given two agents signed in, and an admin
    alice, bob = AgentFactory().user, AgentFactory().user
    alice_browser, bob_browser = signed_in(alice), signed_in(bob)
    bobs = AgentSession.objects.get(user=bob)
    # when Alice tries to see or end Bob's session, then it does not exist for her
    assert alice_browser.delete(f"/api/v1/account/sessions/{bobs.pk}/").status_code == 404
    assert alice_browser.get(f"/api/v1/account/sessions/?user={bob.pk}").status_code == 404
    # when an admin lists and ends it
    admin = Client()
    admin.force_login(UserFactory(is_staff=True))
    assert [row["id"] for row in admin.get(f"/api/v1/account/sessions/?user={bob.pk}").json()] == [bobs.pk]
    assert admin.delete(f"/api/v1/account/sessions/{bobs.pk}/").status_code == 204
    # then Bob is signed out, and the audit log says who did it
    assert bob_browser.get("/console/")["Location"].startswith("/console/login/")
    line = AuditLog.objects.get(action="session_revoked")
    assert (line.target_id, line.data) == (str(bob.pk), {"session_id": bobs.pk})


@pytest.mark.django_db
def test_the_console_page_signs_out_other_sessions_and_logout_ends_its_own():
    user = AgentFactory().user
    laptop, phone, tablet = signed_in(user), signed_in(user, "phone"), signed_in(user, "tablet")
    # when the laptop signs out everywhere else, then the others are out
    assert laptop.post("/console/account/sessions/end-others/").status_code == 303
    for other in (phone, tablet):
        assert other.get("/console/").status_code == 302
    assert laptop.get("/console/").status_code == 200
    # when the laptop logs out, then its row is ended as a logout
    laptop.post("/console/logout/")
    assert set(AgentSession.objects.values_list("end_reason", flat=True)) == {"revoked", "logout"}
    assert AgentSession.objects.filter(end_reason="logout").count() == 1


def http_get(url: str, cookie: str) -> int:
    request = urllib.request.Request(url, headers={"Cookie": f"sessionid={cookie}"})
    with urllib.request.urlopen(request) as response:
        return response.status


def test_an_ended_session_closes_its_console_socket_at_once(live_server_url):
    # given an agent's console open in one browser (a real server, a real websocket)
    user = AgentFactory().user
    laptop = Client()
    laptop.force_login(user)
    cookie = laptop.cookies["sessionid"].value
    assert http_get(f"{live_server_url}/console/", cookie) == 200
    url = live_server_url.replace("http", "ws", 1) + "/ws/console/"
    with connect(url, origin=live_server_url, additional_headers={"Cookie": f"sessionid={cookie}"}) as socket:
        assert json.loads(socket.recv(timeout=10))["type"] == "ready"
        # when the session is ended from another browser through the API
        other = Client()
        other.force_login(user)
        session = AgentSession.objects.get(session_key=cookie)
        started = time.monotonic()
        assert other.delete(f"/api/v1/account/sessions/{session.pk}/").status_code == 204
        # then the socket is closed by the server, as unauthorised (the console shows "logged out")
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                socket.recv(timeout=5)
        elapsed_ms = (time.monotonic() - started) * 1000
    assert closed.value.rcvd.code == 4401
    print(f"\nsession ended -> console socket closed (4401) in {elapsed_ms:.0f} ms")
    assert elapsed_ms < 2000
    # and the same cookie cannot open a socket again
    again = connect(url, origin=live_server_url, additional_headers={"Cookie": f"sessionid={cookie}"})
    with again as socket, pytest.raises(ConnectionClosed) as refused:
        socket.recv(timeout=5)
    assert refused.value.rcvd.code == 4401
