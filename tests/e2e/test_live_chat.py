"""Live chat in Chromium: the widget on /demo/ and the agent console, talking through the real server."""

import re

import pytest
from playwright.sync_api import expect

from chat.models import Contact, Conversation, Message

from .conftest import log_in, server_side

pytestmark = pytest.mark.slow

XSS_NAME = '<img src=x onerror="window.__pwned=1">Eve'
XSS_BODY = "<script>window.__pwned=2</script><b>bold?</b> & <i>done</i>"
XSS_REPLY = '<img src=y onerror="window.__pwned=3"><a href="javascript:alert(1)">click</a>'


def open_widget(page, shop):
    page.goto(f"{shop.url}/demo/")
    widget = page.locator("cxhub-widget")
    widget.locator("button.launcher").click()
    expect(widget.locator(".panel")).to_be_visible()
    return widget


def send_from_widget(widget, text):
    widget.locator(".composer textarea").fill(text)
    widget.locator(".composer textarea").press("Enter")
    sent = widget.locator(".msg.mine", has_text=text[:20]).last
    expect(sent).to_be_visible()
    expect(sent).not_to_have_class(re.compile(r"\bpending\b"))  # acknowledged: stored by the server
    return sent


def test_customer_writes_agent_sees_it_live_and_replies(shop, new_page, screenshot):
    # given an agent logged in at /console/ with an empty list
    agent = new_page(viewport={"width": 1400, "height": 850})
    log_in(agent, shop)
    expect(agent.locator("#conv-list")).to_have_attribute("aria-busy", "false")
    expect(agent.locator("#conv-list")).to_contain_text("No conversations")
    expect(agent.locator("body")).to_have_attribute("data-live", "connected")

    # when a customer opens the shop page and writes in the widget
    customer = new_page()
    widget = open_widget(customer, shop)
    screenshot(customer, "1-widget-open")
    send_from_widget(widget, "Hi! My order #77 has not arrived.")

    # then the agent sees the conversation appear live (no reload) and opens it
    item = agent.locator(".conv-item").first
    expect(item).to_contain_text("Web chat")
    item.click()
    expect(agent.locator("#timeline .msg.in .bubble")).to_have_text("Hi! My order #77 has not arrived.")
    expect(agent.locator("#reply-channel")).to_have_value("web")
    assert agent.evaluate("window.__cxhubNotifications") >= 1  # the new-message alert ran

    # when the customer types, the agent sees it; when the agent types, the customer sees it
    widget.locator(".composer textarea").press_sequentially("One more")
    expect(agent.locator("#typing-line")).to_contain_text("is typing")
    agent.locator("#reply").press_sequentially("Sorry")
    expect(widget.locator(".typing")).to_have_text("Alice Agent is typing…")

    # when the agent replies
    agent.fill("#reply", "Sorry about that, it ships today.")
    agent.click("#send-reply")
    expect(agent.locator("#timeline .msg.out .bubble")).to_have_text("Sorry about that, it ships today.")
    screenshot(agent, "2-console-replied")

    # then the customer sees the reply, with the agent's name
    reply = widget.locator(".msg.theirs", has_text="ships today")
    expect(reply).to_be_visible()
    expect(reply.locator(".sender")).to_have_text("Alice Agent")
    expect(widget.locator(".typing")).to_have_text("")
    screenshot(customer, "3-widget-reply")
    conversation = Conversation.objects.get()
    assert list(conversation.messages.order_by("seq").values_list("sender_kind", flat=True)) == ["contact", "agent"]
    assert customer.errors == [] and agent.errors == []


def test_widget_shadow_dom_resists_the_host_pages_css(shop, new_page, screenshot):
    # given the demo page, whose stylesheet unsets buttons, hides dialogs and inflates SVGs
    page = new_page()
    page.goto(f"{shop.url}/demo/")
    light_button = page.evaluate(
        """() => { const b = document.createElement('button'); b.textContent = 'x'; document.body.prepend(b);
                   const display = getComputedStyle(b).display; b.remove(); return display; }"""
    )
    assert light_button == "inline"  # the hostile rules are live on the host page itself

    # when the widget renders
    widget = page.locator("cxhub-widget")
    launcher = widget.locator("button.launcher")
    expect(launcher).to_be_visible()
    looks = launcher.evaluate(
        """b => { const s = getComputedStyle(b); const icon = b.querySelector('svg').getBoundingClientRect();
                  return {background: s.backgroundColor, width: s.width, radius: s.borderRadius,
                          position: s.position, icon: Math.round(icon.width)}; }"""
    )
    host_display = page.evaluate("getComputedStyle(document.querySelector('cxhub-widget')).display")
    launcher.click()

    # then the launcher and the panel look as designed
    designed = {"background": "rgb(59, 91, 219)", "width": "60px", "radius": "50%", "position": "fixed", "icon": 28}
    assert looks == designed
    assert host_display == "block"
    panel = widget.locator(".panel")
    expect(panel).to_be_visible()
    box = panel.bounding_box()
    assert 360 <= box["width"] <= 380
    inside = widget.locator(".composer textarea").evaluate(
        """t => { const s = getComputedStyle(t); const root = getComputedStyle(t.closest('.root'));
                  return {font: root.fontFamily, lineHeight: root.lineHeight, border: s.borderTopStyle,
                          color: root.color}; }"""
    )
    assert "Comic" not in inside["font"]
    assert inside["lineHeight"] != "45px" and inside["border"] == "solid"
    assert inside["color"] == "rgb(29, 36, 48)"
    screenshot(page, "isolated")


def test_html_and_script_in_names_and_messages_show_as_text(shop, new_page, screenshot):
    # given an inbox with a pre-chat form and a logged-in agent
    shop.web_inbox.prechat_form = True
    shop.web_inbox.save()
    agent = new_page(viewport={"width": 1400, "height": 850})
    log_in(agent, shop)

    # when a customer gives an HTML name and writes HTML and script
    customer = new_page()
    widget = open_widget(customer, shop)
    prechat = widget.locator("form.prechat")
    prechat.locator("input[name=name]").fill(XSS_NAME)
    prechat.locator("input[name=email]").fill("eve@example.com")
    prechat.locator("button[type=submit]").click()
    expect(prechat).to_have_count(0)
    mine = send_from_widget(widget, XSS_BODY)
    Contact.objects.filter(name=XSS_NAME).update(attributes={"plan": "<svg onload=window.__pwned=4>"})

    # then the widget shows the text as typed
    expect(mine.locator(".bubble")).to_have_text(XSS_BODY)
    assert widget.locator(".body b, .body i, .body script, .body img").count() == 0

    # and the console shows the name, the message and the attribute as text
    item = agent.locator(".conv-item", has_text="Eve").first
    expect(item.locator(".who")).to_have_text(XSS_NAME)
    item.click()
    expect(agent.locator("#timeline .msg.in .bubble")).to_have_text(XSS_BODY)
    expect(agent.locator("#convo-title")).to_have_text(XSS_NAME)
    expect(agent.locator("#contact .contact-name")).to_have_text(XSS_NAME)
    expect(agent.locator("#contact .kv dd", has_text="<svg")).to_have_text("<svg onload=window.__pwned=4>")

    # when the agent replies with HTML
    agent.fill("#reply", XSS_REPLY)
    agent.click("#send-reply")

    # then the customer sees it as text too, and no payload ever ran on either side
    expect(widget.locator(".msg.theirs .bubble", has_text="onerror")).to_have_text(XSS_REPLY)
    assert agent.locator("#console img, #console script, #console svg, #console b").count() == 0
    assert widget.locator(".body img, .body a[href^=javascript]").count() == 0
    screenshot(customer, "widget")
    screenshot(agent, "console")
    for page in (customer, agent):
        assert page.evaluate("window.__pwned") is None
        assert page.errors == []
    assert Message.objects.filter(body=XSS_BODY).exists()


def _shadow_focus(page) -> str:
    return page.evaluate(
        """() => { const host = document.querySelector('cxhub-widget');
                   if (document.activeElement !== host) return 'outside';
                   const el = host.shadowRoot.activeElement;
                   return el ? (el.getAttribute('aria-label') || el.name || el.className || el.tagName) : 'none'; }"""
    )


def test_widget_is_usable_with_the_keyboard_alone(shop, new_page, screenshot):
    # given a shop page with a pre-chat form, used without a mouse
    shop.web_inbox.prechat_form = True
    shop.web_inbox.save()
    page = new_page()
    page.goto(f"{shop.url}/demo/")
    expect(page.locator("cxhub-widget").locator("button.launcher")).to_be_attached()

    # when the visitor tabs to the launcher and presses Enter
    for _ in range(60):
        page.keyboard.press("Tab")
        if _shadow_focus(page) == "Open chat":
            break
    assert _shadow_focus(page) == "Open chat"
    page.keyboard.press("Enter")

    # then the panel opens with focus in the pre-chat form, which works with Tab and Enter
    widget = page.locator("cxhub-widget")
    expect(widget.locator(".panel")).to_be_visible()
    expect(widget.locator("form.prechat input[name=name]")).to_be_focused()
    page.keyboard.type("Kim")
    page.keyboard.press("Tab")
    page.keyboard.type("kim@example.com")
    page.keyboard.press("Enter")
    expect(widget.locator("form.prechat")).to_have_count(0)
    expect(widget.locator(".composer textarea")).to_be_focused()

    # and a message goes out with Enter
    page.keyboard.type("Typed without a mouse")
    page.keyboard.press("Enter")
    expect(widget.locator(".msg.mine .bubble")).to_have_text("Typed without a mouse")
    screenshot(page, "keyboard")

    # when Escape is pressed, the panel closes and focus returns to the launcher
    page.keyboard.press("Escape")
    expect(widget.locator(".panel")).to_be_hidden()
    assert _shadow_focus(page) == "Open chat"
    expect(widget.locator("button.launcher")).to_have_attribute("aria-expanded", "false")
    # and Enter opens it again with the conversation kept
    page.keyboard.press("Enter")
    expect(widget.locator(".composer textarea")).to_be_focused()
    expect(widget.locator(".msg.mine .bubble")).to_have_text("Typed without a mouse")
    assert page.errors == []


def test_widget_fills_a_phone_screen(shop, new_page, screenshot):
    # given a phone-sized screen
    page = new_page(viewport={"width": 390, "height": 780}, is_mobile=True, has_touch=True)

    # when the visitor opens the widget
    widget = open_widget(page, shop)

    # then the panel covers the whole screen, the close button is thumb-sized, and chatting works
    box = widget.locator(".panel").bounding_box()
    assert (box["x"], box["y"], box["width"], box["height"]) == (0, 0, 390, 780)
    close = widget.locator("button.close").bounding_box()
    assert close["width"] >= 44 and close["height"] >= 44
    send_from_widget(widget, "Hello from my phone")
    screenshot(page, "phone")
    widget.locator("button.close").click()
    expect(widget.locator(".panel")).to_be_hidden()
    expect(widget.locator("button.launcher")).to_be_visible()


def test_returning_visitor_gets_the_history_back_and_the_token_never_travels_in_a_url(shop, new_page):
    # given a visitor who wrote, then closed the page, while the agent answered
    page = new_page()
    urls = []
    page.on("request", lambda request: urls.append(request.url))
    page.on("websocket", lambda socket: urls.append(socket.url))
    widget = open_widget(page, shop)
    send_from_widget(widget, "First question")
    token = page.evaluate(
        """() => JSON.parse(localStorage.getItem(
                   Object.keys(localStorage).find(k => k.startsWith('cxhub.widget.')))).token"""
    )
    page.goto("about:blank")
    from chat import services

    conversation = Conversation.objects.get()
    server_side(services.message_send, conversation=conversation, by=shop.agent_user, body="Answer while you were away")

    # when they come back to the shop
    page.goto(f"{shop.url}/demo/")

    # then the launcher shows one unread message, and the panel the whole conversation in order
    widget = page.locator("cxhub-widget")
    expect(widget.locator(".badge")).to_have_text("1")
    widget.locator("button.launcher").click()
    bubbles = widget.locator(".msg:not(.greeting) .bubble")
    expect(bubbles).to_have_text(["First question", "Answer while you were away"])
    expect(widget.locator(".badge")).to_be_hidden()
    assert token and len(token) >= 22
    assert not [url for url in urls if token in url]


def test_survey_card_after_resolution_is_answered_in_the_widget(shop, new_page, screenshot):
    # given a chat the agent answered
    agent = new_page(viewport={"width": 1400, "height": 850})
    log_in(agent, shop)
    customer = new_page()
    widget = open_widget(customer, shop)
    send_from_widget(widget, "Can I change my address?")
    agent.locator(".conv-item").first.click()
    agent.fill("#reply", "Done, the new address is on the order.")
    agent.click("#send-reply")
    expect(widget.locator(".msg.theirs", has_text="Done")).to_be_visible()

    # when the agent resolves it
    agent.click("#act-resolve")
    expect(agent.locator("#convo-badges")).to_contain_text("resolved")

    # then the customer is told the chat is closed, gets a survey card with a link to the
    # survey page, and can answer it
    expect(widget.locator(".closed-note .bubble")).to_have_text("This conversation was closed. Write again any time.")
    card = widget.locator("form.survey")
    expect(card).to_be_visible()
    link = card.locator("a.link")
    assert re.search(r"/s/[^/]+/$", link.get_attribute("href"))
    card.locator("fieldset").first.locator("button", has_text="5").first.click()
    comment = card.locator("textarea")
    if comment.count():
        comment.fill("Quick and kind <b>thanks</b>")
    screenshot(customer, "survey-card")
    card.locator("button[type=submit]").click()
    expect(widget.locator(".thanks", has_text="Thank you for your feedback")).to_be_visible()
    screenshot(customer, "survey-thanks")
    # and the agent, still on the conversation, sees the answer appear inline
    expect(agent.locator("#timeline .survey-inline")).to_contain_text("CSAT 5/5")
    from feedback.models import SurveyResponse

    response = SurveyResponse.objects.get()
    assert response.csat == 5


SOCKET_SPY = """
(() => {
  const Native = window.WebSocket;
  window.__sockets = [];
  window.__blockSockets = false;
  window.WebSocket = function (url, protocols) {
    const socket = new Native(window.__blockSockets ? "ws://127.0.0.1:9/blocked" : url, protocols);
    window.__sockets.push(socket);
    return socket;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
})();
"""


def test_widget_reconnects_and_resumes_without_losing_or_doubling_messages(shop, new_page, screenshot):
    # given a customer chatting, whose network can be cut (a spy wraps WebSocket)
    page = new_page()
    page.add_init_script(SOCKET_SPY)
    widget = open_widget(page, shop)
    send_from_widget(widget, "Before the tunnel")
    conversation = Conversation.objects.get()

    # when the connection drops, and the agent answers twice while the customer is away
    page.evaluate("() => { window.__blockSockets = true; window.__sockets.forEach(s => s.close()); }")
    expect(widget.locator(".status")).to_have_text("Reconnecting…")
    from chat import services

    for body in ("Reply one while you were offline", "Reply two while you were offline"):
        server_side(services.message_send, conversation=conversation, by=shop.agent_user, body=body)
    page.wait_for_timeout(300)
    assert widget.locator(".msg.theirs", has_text="while you were offline").count() == 0
    screenshot(page, "offline")

    # and the network comes back
    page.evaluate("() => { window.__blockSockets = false; }")

    # then the widget reconnects by itself and shows what it missed, once each, in order
    bubbles = widget.locator(".msg:not(.greeting) .bubble")
    expect(bubbles).to_have_text(
        ["Before the tunnel", "Reply one while you were offline", "Reply two while you were offline"],
        timeout=20_000,
    )
    expect(widget.locator(".status")).to_be_hidden()

    # and a message written after the reconnect is delivered normally
    send_from_widget(widget, "Back online")
    expect(bubbles).to_have_count(4)
    assert list(conversation.messages.values_list("body", flat=True).order_by("seq"))[-1] == "Back online"
    assert page.errors == []


def test_offline_notice_collects_an_email_when_no_agent_is_online(shop, new_page, screenshot):
    # given no agent online
    from chat.models import AgentProfile

    AgentProfile.objects.update(availability=AgentProfile.Availability.OFFLINE)
    page = new_page()

    # when a visitor opens the widget
    widget = open_widget(page, shop)

    # then it says nobody is online and offers to answer by email
    offline = widget.locator("form.offline")
    expect(offline).to_be_visible()
    expect(widget.locator(".head p")).to_have_text("We are away right now.")
    offline.locator("input[type=email]").fill("not-an-email")
    offline.locator("button[type=submit]").click()
    expect(offline.locator(".error")).to_be_visible()
    offline.locator("input[type=email]").fill("later@example.com")
    offline.locator("button[type=submit]").click()
    expect(widget.locator(".thanks")).to_have_text("Thanks! We will reply to later@example.com.")
    send_from_widget(widget, "Please email me about returns")
    screenshot(page, "offline")

    # and the contact now carries that (unverified) email for the agents to answer by email
    contact = Conversation.objects.get().contact
    assert contact.identities.filter(kind="email", value="later@example.com", verified=False).exists()
    assert page.errors == []


def test_classic_script_tag_with_a_signed_in_user_is_verified_and_skips_the_prechat(shop, new_page):
    # given a page of the website (same origin as allowed) embedding the widget with a classic
    # <script> tag for a signed-in user, signed by the website's backend
    import hashlib
    import hmac

    shop.web_inbox.prechat_form = True
    shop.web_inbox.save()
    signature = hmac.new(shop.web_inbox.identity_secret.encode(), b"user-4242", hashlib.sha256).hexdigest()
    html = f"""<!doctype html><html><head><title>Account</title></head><body><h1>Your account</h1>
      <script src="{shop.url}/static/chat/widget.js" data-inbox="{shop.web_inbox.public_id}"
              data-external-id="user-4242" data-identity-hash="{signature}" data-name="Signed Sam"></script>
      </body></html>"""
    page = new_page()
    page.route(f"{shop.url}/account/", lambda route: route.fulfill(status=200, content_type="text/html", body=html))

    # when the user opens the widget there and writes
    page.goto(f"{shop.url}/account/")
    widget = page.locator("cxhub-widget")
    widget.locator("button.launcher").click()

    # then there is no pre-chat form, and the message lands on the verified contact
    expect(widget.locator(".composer textarea")).to_be_visible()
    expect(widget.locator("form.prechat")).to_have_count(0)
    send_from_widget(widget, "Signed in question")
    contact = Conversation.objects.get().contact
    assert contact.name == "Signed Sam"
    assert contact.identities.filter(kind="external", value="user-4242", verified=True).exists()
    assert page.errors == []
