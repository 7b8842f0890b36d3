"""Email attachments: listed on the message, downloadable only by agents who see the conversation."""

from email.message import EmailMessage

import pytest

from chat.connectors.email import email_receive
from tests.factories import EmailInboxFactory, InboxFactory, agent_user

pytestmark = pytest.mark.django_db


def mail_with_attachment(to: str) -> bytes:
    mail = EmailMessage()
    mail["From"] = "Ann <ann@example.com>"
    mail["To"] = to
    mail["Subject"] = "Receipt"
    mail["Message-ID"] = "<receipt-1@example.com>"
    mail.set_content("Here is my receipt.")
    mail.add_attachment(b"%PDF-1.4 receipt", maintype="application", subtype="pdf", filename="receipt.pdf")
    mail.add_attachment(b"MZ...", maintype="application", subtype="x-msdownload", filename="tool.exe")
    return mail.as_bytes()


def test_stored_attachments_download_for_the_inbox_agent_and_404_for_others(as_user):
    # given an email with a PDF and an executable
    inbox, other = EmailInboxFactory(), InboxFactory()
    agent, outsider = agent_user(inbox), agent_user(other)
    message = email_receive(raw=mail_with_attachment(inbox.email_address), inbox=inbox).message
    # when the agent reads the timeline
    client = as_user(agent)
    listed = client.get(f"/api/v1/conversations/{message.conversation_id}/messages/").json()[0]["attachments"]
    # then the PDF has a download link, the executable is listed as refused without one
    pdf, exe = listed
    assert pdf["name"] == "receipt.pdf" and pdf["url"]
    assert exe["rejected"] == "type_not_allowed" and exe["url"] is None
    download = client.get(pdf["url"])
    assert download.status_code == 200 and b"".join(download.streaming_content) == b"%PDF-1.4 receipt"
    assert download["Content-Disposition"].startswith("attachment")
    assert download["X-Content-Type-Options"] == "nosniff"
    # and nobody else gets it, nor a refused or missing one
    assert as_user(outsider).get(pdf["url"]).status_code == 404
    assert as_user(agent).get(pdf["url"].replace("/attachments/0", "/attachments/1")).status_code == 404
    assert as_user(agent).get(pdf["url"].replace("/attachments/0", "/attachments/9")).status_code == 404
