"""The widget retries on its own (issue #19, item 1): an `unavailable` error frame keeps the message
pending and sends it again, with the same client_msg_id, after `retry_after`; it is shown as sent
once acknowledged, never as failed.

Chromium with the real widget.js on the demo page; Playwright stands in for the server's socket
(`page.route_web_socket`), so the test decides what the "database" answers.
"""

import json
import re
import time

import pytest
from playwright.sync_api import expect

from tests.factories import InboxFactory

pytestmark = [pytest.mark.browser]


def test_the_widget_sends_a_message_again_after_an_unavailable_error(live_server_url, new_page):
    # given the widget on the demo page, its socket answered by a stand-in server
    InboxFactory(name="Acme Shop website", allowed_origins=[live_server_url], prechat_form=False)
    sends: list[tuple[float, dict]] = []

    def server(ws):
        def on_message(text):
            frame = json.loads(text)
            if frame["type"] == "auth":
                ws.send(json.dumps({"type": "auth.ok", "contact_id": 1, "conversation_id": None, "status": None,
                                    "last_seq": 0, "agents_online": True}))  # fmt: skip
            elif frame["type"] == "message.send":
                sends.append((time.monotonic(), frame))
                if len(sends) == 1:
                    # when the database does not answer the first time
                    ws.send(json.dumps({"type": "error", "code": "unavailable", "detail": "Briefly unavailable.",
                                        "retryable": True, "retry_after": 1, "frame_type": "message.send",
                                        "client_msg_id": frame["client_msg_id"]}))  # fmt: skip
                else:
                    message = {"id": 7, "conversation_id": 3, "seq": 1, "body": frame["body"],
                               "client_msg_id": frame["client_msg_id"], "created_at": "2026-12-07T18:00:00Z",
                               "sender": {"kind": "contact", "name": "You"}}  # fmt: skip
                    ws.send(json.dumps({"type": "ack", "client_msg_id": frame["client_msg_id"], "message": message}))

        ws.on_message(on_message)

    page = new_page()
    page.route_web_socket(re.compile(r".*/ws/widget/.*"), server)
    page.goto(f"{live_server_url}/demo/")
    widget = page.locator("cxhub-widget")
    widget.locator("button.launcher").click()
    widget.locator(".composer textarea").fill("Where is my order?")
    widget.locator(".composer textarea").press("Enter")

    # then it says it will send again, does so by itself with the same id, and shows it as sent
    sent = widget.locator(".msg.mine", has_text="Where is my order?")
    expect(sent).not_to_have_class(re.compile(r"\bpending\b"), timeout=10_000)
    expect(sent).not_to_have_class(re.compile(r"\bfailed\b"))
    assert len(sends) == 2
    assert sends[0][1]["client_msg_id"] == sends[1][1]["client_msg_id"]
    assert sends[1][0] - sends[0][0] >= 0.45  # after retry_after (1 s, jittered down to half)
    assert widget.locator(".msg.mine").count() == 1
