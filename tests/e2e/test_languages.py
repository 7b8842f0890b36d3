"""The customer's language and the agent's, in Chromium (issue #17's "done when"): a visitor whose
browser asks for zh-CN gets the widget, the survey card and the survey page in Chinese; an email
customer writing with Content-Language: ru gets the survey email (and its page) in Russian; an
Arabic visitor gets a right-to-left widget and survey page; an agent who picks Spanish gets the
console in Spanish, sees the customer's language on the contact panel and inserts the canned
response in it. Playwright contexts take `locale=` (navigator.language and Accept-Language)."""

import re
from email.message import EmailMessage

import pytest
from django.core import mail
from playwright.sync_api import expect

from chat import services
from chat.connectors import email as email_connector
from chat.models import CannedResponse, Contact, Conversation, InboxMembership
from feedback.models import SurveyInvitation, SurveyResponse
from tests.factories import AgentFactory, EmailInboxFactory, UserFactory

from .conftest import log_in, server_side
from .test_live_chat import send_from_widget

pytestmark = pytest.mark.slow


def resolve_with_a_reply(contact: Contact, agent, body: str) -> Conversation:
    """The agent answers the contact's open conversation and resolves it: the survey goes out."""

    def run():
        conversation = Conversation.objects.exclude(status="resolved").get(contact=contact)
        services.message_send(conversation=conversation, by=agent, body=body)
        return services.conversation_resolve(conversation=conversation, by=agent)

    return server_side(run)


def open_widget(page, url: str):
    page.goto(f"{url}/demo/")
    widget = page.locator("cxhub-widget")
    widget.locator("button.launcher").click()
    expect(widget.locator(".panel")).to_be_visible()
    return widget


def test_a_chinese_browser_gets_the_widget_the_survey_card_and_the_page_in_chinese(
    shop, new_page, screenshot, settings
):
    # given a visitor whose browser asks for Chinese (China), in Shanghai
    settings.PUBLIC_URL = shop.url  # the survey links
    visitor = new_page(locale="zh-CN", timezone_id="Asia/Shanghai")

    # when they open the chat on the shop's page
    widget = open_widget(visitor, shop.url)

    # then the widget speaks Chinese, left to right
    expect(widget.locator(".root")).to_have_attribute("lang", "zh-hans")
    expect(widget.locator(".root")).to_have_attribute("dir", "ltr")
    expect(widget.locator(".head p")).to_have_text("我们通常在几分钟内回复。")
    expect(widget.locator(".greeting .bubble")).to_have_text("您好！有什么可以帮您？")
    expect(widget.locator(".composer textarea")).to_have_attribute("placeholder", "输入消息…")
    expect(widget.locator("button.launcher")).to_have_attribute("aria-label", "关闭聊天")
    send_from_widget(widget, "你好，我的订单还没到。")
    expect(widget.locator(".msg.mine .sender")).to_have_text("您")
    screenshot(visitor, "1-widget")
    contact = Contact.objects.get(conversations__isnull=False)
    assert (contact.locale, contact.locale_source, contact.time_zone) == ("zh-hans", "browser", "Asia/Shanghai")

    # when the agent answers and resolves the conversation
    resolve_with_a_reply(contact, shop.agent_user, "已经发货了，明天到。")

    # then the survey card asks its questions in Chinese
    card = widget.locator("form.survey")
    expect(card.locator("h3")).to_have_text("我们的服务怎么样？")
    expect(card.locator("legend")).to_have_text(["您对获得的帮助满意吗？", "这家公司让我很轻松地解决了问题。"])
    expect(card.locator(".scale-ends").first).to_have_text("非常不满意非常满意")
    expect(card.get_by_role("button", name="提交回答")).to_be_visible()
    expect(widget.locator(".closed-note .bubble")).to_have_text("此对话已结束。欢迎随时再次联系我们。")
    screenshot(visitor, "2-survey-card")

    # when they open the survey page from the card
    link = card.get_by_role("link", name="稍后在调查页面回答")
    with visitor.context.expect_page() as opened:
        link.click()
    survey = opened.value
    survey.wait_for_load_state()

    # then the page is in Chinese too, and so is its thanks
    expect(survey.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(survey.locator("h1")).to_have_text("我们的服务怎么样？")
    expect(survey.locator("#q-csat legend")).to_have_text("您对获得的帮助满意吗？")
    expect(survey.locator("#q-csat .scale-labels")).to_have_text("1 = 非常不满意5 = 非常满意")
    survey.locator("#q-csat label.score", has_text="5").click()
    survey.get_by_role("button", name="提交回答").click()
    expect(survey.locator(".notice-ok")).to_contain_text("感谢您的反馈！您可以在")
    expect(survey.locator(".notice-ok")).to_contain_text("CST")  # the visitor's time zone (China Standard Time)
    screenshot(survey, "3-survey-page")
    assert SurveyResponse.objects.get().csat == 5
    assert visitor.errors == []


def test_an_email_written_in_russian_gets_the_survey_email_and_page_in_russian(shop, new_page, screenshot, settings):
    # given an email inbox, and a customer whose mail client says it writes Russian
    settings.PUBLIC_URL = shop.url
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    inbox = EmailInboxFactory(name="Acme Mail", email_address="help@acme.test")
    InboxMembership.objects.create(user=shop.agent_user, inbox=inbox)
    incoming = EmailMessage()
    incoming["From"] = "Ivan Petrov <ivan@example.ru>"
    incoming["To"] = "help@acme.test"
    incoming["Subject"] = "Заказ 1042"
    incoming["Message-ID"] = "<ru-1042@example.ru>"
    incoming.set_content("Здравствуйте! Где мой заказ?")
    incoming["Content-Language"] = "ru"  # after set_content, which clears the Content-* headers

    # when the email arrives, and the agent answers and resolves it
    server_side(email_connector.email_receive, raw=incoming.as_bytes())
    contact = Contact.objects.get(email="ivan@example.ru")
    assert (contact.locale, contact.locale_source) == ("ru", "email")
    resolve_with_a_reply(contact, shop.agent_user, "Ваш заказ уже в пути.")

    # then the survey email is in Russian: subject, greeting, question, scale and expiry
    [survey_mail] = [m for m in mail.outbox if "/s/" in m.body]
    assert survey_mail.subject == "Как мы справились? (Acme Mail)"
    assert survey_mail.extra_headers["Content-Language"] == "ru"
    assert survey_mail.body.startswith("Здравствуйте, Ivan Petrov!")
    assert "Спасибо, что обратились в Acme Mail. Насколько вы довольны полученной помощью?" in survey_mail.body
    assert "1 (Совсем не понравилось): " in survey_mail.body and "Опрос открыт до " in survey_mail.body
    html = survey_mail.alternatives[0][0]
    assert '<html lang="ru" dir="ltr">' in html

    # when the customer reads it (shown in Chromium) and clicks "4"
    reader = new_page(locale="en-US")
    reader.set_content(html)
    expect(reader.locator("p").nth(1)).to_contain_text("Насколько вы довольны полученной помощью?")
    screenshot(reader, "1-survey-email")
    url = re.search(r"\s4: (\S+)", survey_mail.body).group(1)
    reader.goto(url)

    # then the survey page is in Russian, with 4 chosen, whatever the browser's language
    expect(reader.locator("html")).to_have_attribute("lang", "ru")
    expect(reader.locator("h1")).to_have_text("Как мы справились?")
    expect(reader.locator("#q-csat input[value='4']")).to_be_checked()
    reader.get_by_role("button", name="Отправить ответ").click()
    expect(reader.locator(".notice-ok")).to_contain_text("Спасибо за отзыв! Изменить ответ можно до")
    screenshot(reader, "2-survey-page")
    assert SurveyInvitation.objects.get(contact=contact).status == "answered"


def test_an_arabic_visitor_gets_a_right_to_left_widget_and_survey_page(shop, new_page, screenshot, settings):
    # given a visitor whose browser asks for Arabic
    settings.PUBLIC_URL = shop.url  # the survey links
    visitor = new_page(locale="ar", viewport={"width": 1280, "height": 800})

    # when they open the chat
    widget = open_widget(visitor, shop.url)

    # then the widget is right to left: Arabic texts, mirrored to the left edge, their own
    # messages on the left of the panel
    root = widget.locator(".root")
    expect(root).to_have_attribute("dir", "rtl")
    expect(widget.locator(".head p")).to_have_text("نردّ عادةً خلال دقائق.")
    expect(widget.locator(".composer textarea")).to_have_attribute("placeholder", "اكتب رسالة…")
    assert root.evaluate("node => getComputedStyle(node).direction") == "rtl"
    send_from_widget(widget, "مرحبًا، أين طلبي؟")
    panel = widget.locator(".panel").bounding_box()
    launcher = widget.locator("button.launcher").bounding_box()
    assert panel["x"] < 100 and launcher["x"] < 100  # mirrored: bottom left, not bottom right
    mine = widget.locator(".msg.mine").last.bounding_box()
    assert mine["x"] - panel["x"] < panel["width"] / 2  # the visitor's own side is the right… in RTL, the start
    screenshot(visitor, "1-widget")

    # when the conversation is resolved, then the card and the survey page are right to left too
    contact = Contact.objects.get(conversations__isnull=False)
    assert contact.locale == "ar"
    resolve_with_a_reply(contact, shop.agent_user, "طلبك في الطريق.")
    card = widget.locator("form.survey")
    expect(card.locator("h3")).to_have_text("كيف كانت تجربتك معنا؟")
    screenshot(visitor, "2-survey-card")
    with visitor.context.expect_page() as opened:
        card.get_by_role("link", name="الإجابة لاحقًا في صفحة الاستبيان").click()
    survey = opened.value
    expect(survey.locator("html")).to_have_attribute("dir", "rtl")
    expect(survey.locator("h1")).to_have_text("كيف كانت تجربتك معنا؟")
    first, last = (survey.locator("#q-csat label.score").nth(i).bounding_box() for i in (0, 4))
    assert first["x"] > last["x"]  # the scale runs right to left: 1 on the right
    screenshot(survey, "3-survey-page")
    assert visitor.errors == []


def test_the_console_runs_in_spanish_for_an_agent_who_chose_it(shop, new_page, screenshot, settings):
    # given a Russian customer who emailed, a canned response with a Russian text, and an agent
    # whose browser speaks English
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    inbox = EmailInboxFactory(name="Acme Mail", email_address="help@acme.test")
    AgentFactory(user=UserFactory(username="rosa"), display_name="Rosa", inboxes=[inbox, shop.web_inbox])
    CannedResponse.objects.create(
        shortcut="gracias", body="Thank you for writing!", texts={"ru": "Спасибо, что написали!", "es": "¡Gracias!"}
    )
    incoming = EmailMessage()
    incoming["From"] = "Olga <olga@example.ru>"
    incoming["To"] = "help@acme.test"
    incoming["Subject"] = "Возврат"
    incoming["Accept-Language"] = "ru-RU, ru;q=0.9, en;q=0.5"
    incoming.set_content("Хочу вернуть товар.")
    server_side(email_connector.email_receive, raw=incoming.as_bytes())
    agent = new_page(locale="en-US", viewport={"width": 1400, "height": 850})
    log_in(agent, shop, "rosa")
    expect(agent.locator("nav[aria-label=Main]")).to_contain_text("Conversations")

    # when the agent picks Spanish in the top bar
    agent.select_option("#language-switch", "es")

    # then the console (server-rendered and scripted parts alike) is in Spanish, and stays so
    expect(agent.locator("html")).to_have_attribute("lang", "es")
    expect(agent.locator(".topnav nav")).to_contain_text("Conversaciones")
    expect(agent.locator("#search")).to_have_attribute("placeholder", "Filtra la lista, o Intro para buscar en todo…")
    item = agent.locator(".conv-item", has_text="Olga")
    expect(item.locator(".badge-open")).to_have_text("abierta")
    assert UserFactory._meta.model.objects.get(username="rosa").agent.language == "es"

    # and the contact panel says the customer reads Russian, from their email
    item.click()
    expect(agent.locator("#contact")).to_contain_text("Idioma")
    expect(agent.locator("#contact")).to_contain_text("Ruso (Русский) · según su correo")
    # and the canned response goes in in the customer's language
    agent.fill("#reply", "/grac")
    expect(agent.locator("#canned li")).to_contain_text("Спасибо, что написали!")
    agent.keyboard.press("Enter")
    expect(agent.locator("#reply")).to_have_value("Спасибо, что написали!")
    expect(agent.locator("#send-reply")).to_have_text("Enviar")
    screenshot(agent, "1-console-in-spanish")
    assert agent.errors == []
