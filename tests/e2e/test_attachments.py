"""Attachments in Chromium: a visitor sends a picture from the widget and the agent sees its
preview; the agent sends a PDF from the console; refused files say why, in both."""

import io

import pytest
from PIL import Image
from playwright.sync_api import expect

from chat.models import Message

from .conftest import log_in
from .test_live_chat import open_widget, send_from_widget

pytestmark = pytest.mark.slow

SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="window.__pwned=1"><script>window.__pwned=2</script></svg>'


def png(path):
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (40, 120, 200)).save(out, "PNG")
    path.write_bytes(out.getvalue())
    return path


def test_a_visitor_and_an_agent_exchange_files(shop, new_page, tmp_path, screenshot):
    # given a visitor chatting in the widget and the agent in the console
    visitor = new_page()
    widget = open_widget(visitor, shop)
    send_from_widget(widget, "My parcel arrived broken")
    agent = new_page(viewport={"width": 1400, "height": 850})
    log_in(agent, shop)
    agent.locator(".conv-item").first.click()
    expect(agent.locator("#timeline")).to_contain_text("My parcel arrived broken")

    # when the visitor sends a photo with the paperclip
    widget.locator("input.file-input").set_input_files(str(png(tmp_path / "damage.png")))
    # then they see its preview, and so does the agent, live
    expect(widget.locator(".msg.mine .files img")).to_be_visible()
    preview = agent.locator("#timeline .msg-files img.file-preview")
    expect(preview).to_be_visible()
    # (the image is decoded a moment after it shows: wait for it, then it has pixels)
    agent.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=preview.element_handle())
    expect(agent.locator("#timeline .msg-files .file-name")).to_have_text("damage.png")

    # when the visitor tries an SVG dressed as a picture
    bad = tmp_path / "cat.png"
    bad.write_bytes(SVG)
    widget.locator("input.file-input").set_input_files(str(bad))
    # then the widget says why, and nothing was stored
    expect(widget.locator(".limit .error")).to_contain_text("not accepted")
    assert not [m for m in Message.objects.all() if any(file.get("name") == "cat.png" for file in m.attachments)]

    # when the agent attaches a PDF and sends it with a caption
    (tmp_path / "return-label.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    agent.locator("#attach-input").set_input_files(str(tmp_path / "return-label.pdf"))
    expect(agent.locator("#attach-list")).to_contain_text("return-label.pdf")
    agent.fill("#reply", "Here is a return label")
    agent.click("#send-reply")
    # then it is in the timeline, and the visitor gets it with a link of their own
    expect(agent.locator("#timeline .msg.out .file-name", has_text="return-label.pdf")).to_be_visible()
    expect(agent.locator("#attach-list")).to_be_hidden()
    link = widget.locator(".msg.theirs .files a", has_text="return-label.pdf")
    expect(link).to_be_visible()
    href = link.get_attribute("href")
    assert visitor.request.get(href).body() == b"%PDF-1.4\n%%EOF\n"

    # when the agent attaches a file whose content does not match its name
    (tmp_path / "invoice.pdf").write_bytes((tmp_path / "damage.png").read_bytes())
    agent.locator("#attach-input").set_input_files(str(tmp_path / "invoice.pdf"))
    agent.click("#send-reply")
    # then the composer shows the reason, and the file waits to be removed
    expect(agent.locator("#reply-hint")).to_contain_text("does not match the name")
    screenshot(agent, "refused")
    assert agent.evaluate("() => window.__pwned") is None and visitor.evaluate("() => window.__pwned") is None
    assert visitor.errors == [] and agent.errors == []
