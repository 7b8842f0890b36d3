"""XSS: 288 payloads (tests/trust/payloads.py) through every place a customer's text lands, in Chromium.

Sinks: widget messages, email HTML (through the email connector: parsed, sanitised into
Message.html, its text into the body), SMS bodies, contact names and attributes, canned
responses and survey comments; the workspace's labels, saved views, macros, mentions, contact
notes and attribute definitions. Rendered: the console (conversation list, timeline, contact
panel, /shortcut completion), the widget on /demo/ (agent replies carrying the payloads), the
follow-up page. A payload "executes" if it calls `window.__xss(n)` or opens a dialog; also
counted as a failure: a CSP violation (markup got into the page where text belonged). Every
HTML page carries a Content-Security-Policy without 'unsafe-inline' scripts.
"""

import re
import secrets
import threading
from html.parser import HTMLParser

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import URLPattern, URLResolver, get_resolver
from playwright.sync_api import expect

from chat import attachments, services
from chat.connectors.email import email_receive
from chat.models import (
    AgentProfile,
    AttributeDefinition,
    CannedResponse,
    ContactLabel,
    ContactNote,
    ConversationLabel,
    Label,
    Macro,
    Mention,
    Message,
    SavedView,
)
from feedback.followups import followup_open_for_response
from feedback.services import survey_answer
from tests.chat.channel_helpers import make_email
from tests.e2e.conftest import log_in
from tests.factories import AgentFactory, ContactFactory, EmailInboxFactory, InboxFactory, UserFactory

from .figures import FIGURES
from .payloads import LINK_PAYLOADS, PAYLOADS
from .world import send_survey

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SENTINEL = """
window.__xss_hits = [];
window.__xss = (n) => window.__xss_hits.push(n);
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(e.violatedDirective + " " + e.sample));
"""


def watch(page) -> dict:
    """Install the sentinel before any script of the page; collect dialogs."""
    seen = {"dialogs": []}
    page.add_init_script(SENTINEL)
    page.on("dialog", lambda dialog: (seen["dialogs"].append(dialog.message), dialog.dismiss()))
    return seen


def executed(page, seen) -> tuple[list, list, list]:
    hits = page.evaluate("window.__xss_hits || []")
    csp = page.evaluate("window.__csp || []")
    return hits, seen["dialogs"], csp


@pytest.fixture
def xss_world(live_server_url):
    """A web inbox, an email inbox and an agent; every payload through every sink."""
    web = InboxFactory(name="Shop", allowed_origins=[live_server_url])
    mail = EmailInboxFactory(name="Mail", email_address="help@shop.test")
    agent = AgentFactory(
        user=UserFactory(username="alice"),
        display_name="Alice",
        availability=AgentProfile.Availability.ONLINE,
        inboxes=[web, mail],
    ).user
    # a contact whose name and attributes are payloads, writing every payload by web and by SMS
    contact = ContactFactory(name=PAYLOADS[5], attributes={f"k{i}<b>": p for i, p in enumerate(PAYLOADS)})
    for i, payload in enumerate(PAYLOADS):
        channel = "web" if i % 2 == 0 else "sms"
        services.message_receive(inbox=web, contact=contact, channel=channel, body=payload)
    conversation = contact.conversations.get()
    # earlier conversations of the same person, resolved and surveyed: comments are payloads
    chunks = [PAYLOADS[i : i + 15] for i in range(0, len(PAYLOADS), 15)]
    for number, chunk in enumerate(chunks):
        services.conversation_resolve(conversation=conversation, by=agent)
        token = secrets.token_urlsafe(24)
        send_survey(conversation, token)
        response = survey_answer(token=token, channel="web", csat=1, comment=" ".join(chunk)[:2000])
        followup_open_for_response(response_id=response.pk)
        conversation = services.message_receive(
            inbox=web, contact=contact, channel="web", body=f"again {number}"
        ).message.conversation
    # contacts named by payloads, for the conversation list
    for payload in PAYLOADS[:60]:
        services.message_receive(inbox=web, contact=ContactFactory(name=payload), channel="sms", body="hi")
    # every payload as the HTML part of an email, through the connector's parsing and sanitising
    for i, payload in enumerate(PAYLOADS):
        raw = make_email(
            sender="Mallory <mallory@example.com>",
            to=mail.email_address,
            subject=" ".join(payload.split())[:150],
            text=None,
            html=f"<p>Hello {i}</p>{payload}",
        ).as_bytes()
        email_receive(raw=raw, inbox=mail)
    for i, payload in enumerate(PAYLOADS):
        CannedResponse.objects.create(shortcut=f"x{i}", body=payload)
    workspace_sinks(agent, conversation, contact)
    return {"web": web, "mail": mail, "agent": agent, "contact": contact, "conversation": conversation}


def workspace_sinks(agent, conversation, contact) -> None:
    """The agent's workspace (issue #15): labels, saved views, macros, mentions, contact notes and
    attribute definitions named by payloads, on the conversation and the person the console opens."""
    for i, payload in enumerate(PAYLOADS[:40]):
        label = Label.objects.create(name=f"{i} {payload}"[:50], colour="#123456")
        ConversationLabel.objects.create(conversation=conversation, label=label)
        ContactLabel.objects.create(contact=contact, label=label)
        SavedView.objects.create(owner=agent, name=payload[:80], filters={"q": payload[:200]})
        Macro.objects.create(owner=agent, name=payload[:80], reply=payload)
        ContactNote.objects.create(contact=contact, author=agent, body=payload)
        AttributeDefinition.objects.create(key=f"a{i}", label=payload[:80], kind="list", options=[payload[:100]])
    for message in Message.objects.filter(conversation__contact=contact, sender_kind="contact")[:40]:
        Mention.objects.create(message=message, conversation=message.conversation, user=agent)


class Shop:
    password = "secret-pass-123"


class ActiveContent(HTMLParser):
    """What in a piece of HTML could run: dangerous tags, on* attributes, script-bearing URLs."""

    TAGS = {"script", "iframe", "object", "embed", "svg", "math", "style", "meta", "link", "form", "base", "template"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.TAGS:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            value = "".join((value or "").split()).lower()
            if name.startswith("on") or name in ("srcdoc", "formaction", "style"):
                self.found.append(f"{tag}[{name}]")
            elif value.startswith(("javascript:", "vbscript:", "data:text/html", "data:image/svg")):
                self.found.append(f"{tag}[{name}={value[:30]}]")


@pytest.mark.django_db
def test_sanitised_email_html_keeps_no_active_content():
    """Every payload as an email's HTML part: what the connector stores in Message.html cannot run."""
    mail = EmailInboxFactory(name="Mail", email_address="help@shop.test")
    for i, payload in enumerate(PAYLOADS):
        raw = make_email(
            sender="Mallory <mallory@example.com>", to=mail.email_address, subject=f"x{i}", text=None,
            html=f"<p>Hello {i}</p>{payload}",
        ).as_bytes()  # fmt: skip
        email_receive(raw=raw, inbox=mail)
    stored = list(Message.objects.filter(inbox=mail).values_list("html", flat=True))
    assert len(stored) == len(PAYLOADS)
    bad = []
    for html in stored:
        parser = ActiveContent()
        parser.feed(html)
        if parser.found:
            bad.append((parser.found, html[:120]))
    FIGURES["xss_email_html_checked"] = len(stored)
    assert not bad, bad[:5]


def widget_saying_hello(new_page, live_server_url, text="hello"):
    """A visitor on the demo page who wrote `text` (stored by the server): (page, seen, widget)."""
    customer = new_page()
    seen_widget = watch(customer)
    customer.goto(f"{live_server_url}/demo/")
    widget = customer.locator("cxhub-widget")
    widget.locator("button.launcher").click()
    widget.locator(".composer textarea").fill(text)
    widget.locator(".composer textarea").press("Enter")
    sent = widget.locator(".msg.mine", has_text=text[:5]).last
    expect(sent).to_be_visible()
    expect(sent).not_to_have_class(re.compile(r"\bpending\b"), timeout=30_000)  # stored by the server
    return customer, seen_widget, widget


def test_console_and_widget_execute_no_payload(xss_world, live_server_url, new_page):
    shop = Shop()
    shop.url = live_server_url
    # the console: conversation view with the timeline and the contact panel
    console = new_page(viewport={"width": 1400, "height": 900})
    seen = watch(console)
    log_in(console, shop)
    conversation = xss_world["conversation"]
    contact = xss_world["contact"]
    email_conversation = Message.objects.filter(inbox=xss_world["mail"]).first().conversation
    for url in (
        f"{live_server_url}/console/",
        f"{live_server_url}/console/c/{conversation.pk}/",
        f"{live_server_url}/console/c/{contact.conversations.order_by('id').first().pk}/",
        f"{live_server_url}/console/c/{email_conversation.pk}/",
        f"{live_server_url}/console/followups/",
    ):
        console.goto(url)
        if "/c/" in url:
            expect(console.locator("#timeline .msg").first).to_be_visible(timeout=60_000)
        console.wait_for_load_state("networkidle")
        console.wait_for_timeout(500)
        hits, dialogs, csp = executed(console, seen)
        assert (hits, dialogs, csp) == ([], [], []), f"{url}: executed {hits}, dialogs {dialogs}, CSP {csp[:3]}"
    # the payloads are shown as text, literally
    console.goto(f"{live_server_url}/console/c/{contact.conversations.order_by('id').first().pk}/")
    expect(console.locator("#timeline .msg").first).to_be_visible(timeout=60_000)
    timeline = console.locator("#timeline").inner_text()
    panel = console.locator("#contact").inner_text()
    shown = [p for p in PAYLOADS[:40:2] if p.strip() in timeline]
    assert len(shown) == len(PAYLOADS[:40:2]), "some payloads are not shown literally in the timeline"
    assert PAYLOADS[5] in panel  # the contact's name
    # the /shortcut completion lists canned responses whose bodies are payloads
    console.fill("#reply", "/x1")
    console.wait_for_timeout(500)
    hits, dialogs, csp = executed(console, seen)
    assert (hits, dialogs, csp) == ([], [], [])

    # the widget: the agent replies with every payload; the customer's widget renders them live
    customer, seen_widget, widget = widget_saying_hello(new_page, live_server_url)
    chat = Message.objects.filter(body="hello", inbox=xss_world["web"]).latest("id").conversation
    agent = xss_world["agent"]

    def reply_with_every_payload():  # in a thread of its own: Playwright runs an event loop in this one
        try:
            for payload in PAYLOADS:
                services.message_send(conversation=chat, by=agent, body=payload)
        finally:
            connection.close()

    replies = threading.Thread(target=reply_with_every_payload)
    replies.start()
    replies.join()
    last = widget.locator(".msg", has_text=f"__xss({len(PAYLOADS) - 1})")
    try:
        expect(last).to_be_attached(timeout=30_000)
    except AssertionError:
        print("widget shows", widget.locator(".msg").count(), "messages live; reloading (resume)")
        customer.reload()
        customer.locator("cxhub-widget button.launcher").click()
        expect(last).to_be_attached(timeout=30_000)
    customer.wait_for_timeout(1000)
    hits, dialogs, csp = executed(customer, seen_widget)
    assert (hits, dialogs, csp) == ([], [], []), f"widget: executed {hits}, dialogs {dialogs}, CSP {csp[:3]}"
    text = widget.locator(".panel").inner_text()
    assert PAYLOADS[0] in text and PAYLOADS[50] in text
    assert_widget_links_are_safe(widget)
    FIGURES["xss_payloads"] = len(PAYLOADS)
    FIGURES["xss_executed"] = 0


SAFE_LINK = """links => links.map(a => ({
    protocol: new URL(a.href).protocol, target: a.target, rel: a.rel, text: a.textContent,
    attributes: Array.from(a.attributes, attribute => attribute.name).sort().join(","),
    bubble: a.closest(".bubble") ? a.closest(".bubble").textContent : null }))"""


# --- uploads: file names and SVG ----------------------------------------------------------

SVG_FILES = {
    "drawing.svg": b'<svg xmlns="http://www.w3.org/2000/svg" onload="window.__xss(9001)"/>',
    "photo.png": b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>window.__xss(9002)</script></svg>',
    "notes.txt": b"<svg/onload=window.__xss(9003)>",
    "page.txt": b"<!DOCTYPE html><script>window.__xss(9004)</script>",
}


def test_uploaded_file_names_and_svg_run_nothing(live_server_url, new_page, api, client):
    """Every payload as an uploaded file's name, in the console and the widget; SVG (and markup
    dressed as an image or text) is refused, so no file of ours is ever rendered as markup."""
    web = InboxFactory(name="Shop", allowed_origins=[live_server_url])
    agent = AgentFactory(
        user=UserFactory(username="alice"), availability=AgentProfile.Availability.ONLINE, inboxes=[web]
    ).user
    # SVG and markup uploads: 400, nothing kept (console and widget)
    conversation = services.message_receive(
        inbox=web, contact=ContactFactory(), channel="web", body="hi"
    ).message.conversation
    api.force_authenticate(agent)
    for name, data in SVG_FILES.items():
        upload = SimpleUploadedFile(name, data)
        answer = api.post(f"/api/v1/conversations/{conversation.pk}/messages/", {"files": [upload]}, format="multipart")
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "attachment_type_refused", name
    # the visitor writes; the agent answers with files named by every payload
    customer, seen_widget, widget = widget_saying_hello(new_page, live_server_url)
    chat = Message.objects.filter(body="hello", inbox=web).latest("id").conversation

    def reply_with_named_files():  # a thread of its own: Playwright runs an event loop in this one
        try:
            for index, payload in enumerate(PAYLOADS):
                uploads = [attachments.Upload(name=f"{payload}.txt", data=f"file {index}".encode())]
                attachments.with_files(
                    web,
                    uploads,
                    lambda files, i=index: services.message_send(
                        conversation=chat, by=agent, body=f"file {i}", attachments=files
                    ),
                )
        finally:
            connection.close()

    replies = threading.Thread(target=reply_with_named_files)
    replies.start()
    replies.join()
    names = [m.attachments[0]["name"] for m in chat.messages.filter(sender_kind="agent").order_by("seq")]
    assert len(names) == len(PAYLOADS)
    expect(widget.locator(".msg", has_text=f"file {len(PAYLOADS) - 1}")).to_be_attached(timeout=30_000)
    customer.wait_for_timeout(500)
    hits, dialogs, csp = executed(customer, seen_widget)
    assert (hits, dialogs, csp) == ([], [], []), f"widget: executed {hits}, dialogs {dialogs}, CSP {csp[:3]}"
    widget_names = widget.locator(".files a").evaluate_all("(links) => links.map((a) => a.textContent)")
    assert widget_names == names
    # the console shows the same names, as text
    console = new_page(viewport={"width": 1400, "height": 900})
    seen = watch(console)
    shop = Shop()
    shop.url = live_server_url
    log_in(console, shop)
    console.goto(f"{live_server_url}/console/c/{chat.pk}/")
    expect(console.locator("#timeline .file-name").last).to_be_attached(timeout=60_000)
    console.wait_for_load_state("networkidle")
    hits, dialogs, csp = executed(console, seen)
    assert (hits, dialogs, csp) == ([], [], []), f"console: executed {hits}, dialogs {dialogs}, CSP {csp[:3]}"
    console_names = console.locator("#timeline .file-name").all_text_contents()
    assert console_names[-len(names) :] == names
    FIGURES["xss_upload_names"] = len(names)
    FIGURES["xss_upload_svg_refused"] = len(SVG_FILES)


def assert_widget_links_are_safe(widget) -> int:
    """Every link in the widget's messages: http(s) or mailto, a new tab without opener or
    referrer, no attribute but href/target/rel, its text taken from the message's text."""
    links = widget.locator(".body .bubble a").evaluate_all(SAFE_LINK)
    for link in links:
        assert link["protocol"] in ("http:", "https:", "mailto:"), link
        assert (link["target"], link["rel"], link["attributes"]) == (
            "_blank",
            "noopener noreferrer nofollow",
            "href,rel,target",
        ), link
        assert link["bubble"] is not None and link["text"] in link["bubble"], link
    return len(links)


def test_widget_links_in_messages_run_nothing_and_go_nowhere_else(live_server_url, new_page):
    """The link cases: an agent's replies holding URLs, addresses and things dressed as them."""
    web = InboxFactory(name="Shop", allowed_origins=[live_server_url])
    agent = AgentFactory(availability=AgentProfile.Availability.ONLINE, inboxes=[web]).user
    first = "hello https://example.com/start mail@example.com"
    customer, seen, widget = widget_saying_hello(new_page, live_server_url, first)
    chat = Message.objects.get(inbox=web).conversation

    def reply_with_every_link_case():  # in a thread of its own: Playwright runs an event loop in this one
        try:
            for payload in LINK_PAYLOADS:
                services.message_send(conversation=chat, by=agent, body=payload)
        finally:
            connection.close()

    replies = threading.Thread(target=reply_with_every_link_case)
    replies.start()
    replies.join()
    bubbles = widget.locator(".msg.theirs:not(.greeting) .bubble")
    expect(bubbles).to_have_count(len(LINK_PAYLOADS), timeout=30_000)
    # every message reads exactly as written; the links in it are safe ones
    assert bubbles.all_text_contents() == LINK_PAYLOADS
    checked = assert_widget_links_are_safe(widget)
    assert checked >= len(LINK_PAYLOADS)
    for link in widget.locator(".body .bubble a").all():  # an on* attribute would fire here
        link.hover()
    customer.wait_for_timeout(300)
    hits, dialogs, csp = executed(customer, seen)
    assert (hits, dialogs, csp) == ([], [], []), f"widget links: executed {hits}, dialogs {dialogs}, CSP {csp[:3]}"
    FIGURES["xss_widget_link_cases"] = len(LINK_PAYLOADS)
    FIGURES["xss_widget_links_checked"] = checked


LINK_ATTACKS = [
    "javascript:window.__xss(9001)",
    "JaVaScRiPt:window.__xss(9002)",
    " javascript:window.__xss(9003) https://ok.example/",
    "vbscript:msgbox(9004) data:text/html,<script>window.__xss(9005)</script>",
    'https://ok.example/"onmouseover="window.__xss(9006)"',
    "https://ok.example/'><img src=x onerror=window.__xss(9007)>",
    "https://ok.example/<script>window.__xss(9008)</script>",
    "https://ok.example/#<img src=x onerror=window.__xss(9009)>",
    'http://ok.example/x?q="><svg onload=window.__xss(9010)>',
    "mailto:x@ok.example?body=<script>window.__xss(9011)</script>",
    '"><a href="javascript:window.__xss(9012)">x@ok.example</a>',
    "x@ok.example<img src=x onerror=window.__xss(9013)>",
    "https://ok.example@evil.example/ and https://user:pass@evil.example/",
    "https://ok.example/%22%3E%3Cscript%3Ewindow.__xss(9014)%3C/script%3E",
    "&#106;avascript:window.__xss(9015) &lt;a href=javascript:window.__xss(9016)&gt;",
]
SAFE_HREF = re.compile(r"^(https?://[^\s\"'<>`]+|mailto:[^\s\"'<>`]+)$")


@pytest.fixture
def link_world(live_server_url):
    """One conversation whose messages are links around every payload, and link-shaped attacks."""
    web = InboxFactory(name="Shop", allowed_origins=[live_server_url])
    agent = AgentFactory(user=UserFactory(username="alice"), display_name="Alice", inboxes=[web]).user
    contact = ContactFactory(name="Lenny Links")
    bodies = list(LINK_ATTACKS)
    for i, payload in enumerate(PAYLOADS):
        bodies.append(f"see https://shop.example/p/{i}?{payload} or mail a{i}@shop.example {payload}")
    for body in bodies:
        services.message_receive(inbox=web, contact=contact, channel="web", body=body)
    return {"agent": agent, "conversation": contact.conversations.get(), "bodies": bodies}


def test_console_links_are_only_safe_anchors_and_no_payload_runs(link_world, live_server_url, new_page):
    """Linkified message text (chat/static/chat/linkify.js): every payload around or inside a link
    stays text; the only elements made are <a> with an http(s) or mailto href, opening in a new tab."""
    shop = Shop()
    shop.url = live_server_url
    console = new_page(viewport={"width": 1400, "height": 900})
    seen = watch(console)
    log_in(console, shop)
    console.goto(f"{live_server_url}/console/c/{link_world['conversation'].pk}/")
    bubbles = console.locator("#timeline > .msg .bubble")
    expect(bubbles).to_have_count(len(link_world["bodies"]), timeout=60_000)
    console.wait_for_timeout(500)
    found = console.evaluate(
        """() => Array.from(document.querySelectorAll('#timeline > .msg .bubble'), (bubble) => ({
            text: bubble.textContent,
            tags: Array.from(bubble.querySelectorAll('*'), (node) => node.tagName),
            links: Array.from(bubble.querySelectorAll('a'), (a) => ({
                href: a.getAttribute('href'), rel: a.rel, target: a.target,
                attributes: a.getAttributeNames().sort().join(' ') })),
        }))"""
    )
    hits, dialogs, csp = executed(console, seen)
    assert (hits, dialogs, csp) == ([], [], [])
    assert [f["text"] for f in found] == link_world["bodies"]  # the text reads exactly as written
    links = [link for f in found for link in f["links"]]
    assert {tag for f in found for tag in f["tags"]} == {"A"}
    unsafe = [link["href"] for link in links if not SAFE_HREF.match(link["href"])]
    assert unsafe == []
    assert {(link["rel"], link["target"], link["attributes"]) for link in links} == {
        ("noopener noreferrer nofollow", "_blank", "href rel target")
    }
    assert len(links) >= 2 * len(PAYLOADS)  # every message's web link and address were made
    FIGURES["xss_console_link_messages"] = len(found)
    FIGURES["xss_console_links"] = len(links)


def _html_routes():
    def walk(patterns, prefix=""):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                yield from walk(entry.url_patterns, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern):
                yield prefix + str(entry.pattern)

    return [r for r in walk(get_resolver().url_patterns) if not re.search(r"[<(\\^]", r)]


@pytest.mark.django_db
def test_every_html_page_has_a_content_security_policy(client, django_user_model):
    """Every route without arguments that answers HTML carries a strict CSP (no inline script)."""
    staff = django_user_model.objects.create_user("csp-admin", password="x", is_staff=True, is_superuser=True)
    client.force_login(staff)
    checked = 0
    for route in _html_routes():
        response = client.get("/" + route)
        if "text/html" not in response.get("Content-Type", ""):
            continue
        checked += 1
        policy = response.get("Content-Security-Policy", "")
        assert policy, f"/{route} has no Content-Security-Policy"
        script = re.search(r"script-src([^;]*)", policy) or re.search(r"default-src([^;]*)", policy)
        assert script and "'unsafe-inline'" not in script.group(1), f"/{route}: {policy}"
    FIGURES["csp_html_pages"] = checked
    assert checked >= 5
