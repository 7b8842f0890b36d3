"""The survey page /s/<token>/: friendly 404/410 pages, GET never records, bad scores re-show the form."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from chat.models import hash_token
from feedback import services
from feedback.models import SurveyInvitation, SurveyPolicy, SurveyResponse
from tests.factories import InboxFactory

pytestmark = pytest.mark.django_db

TOKEN = "page-test-token-0123456789abcdef"


@pytest.fixture
def invitation(resolve):
    """A sent web survey whose token is TOKEN; the policy asks every question."""
    inbox = InboxFactory()
    SurveyPolicy.objects.create(inbox=inbox, questions=["csat", "ces", "nps", "comment"])
    conversation = resolve(inbox)
    invitation = SurveyInvitation.objects.get(conversation=conversation)
    SurveyInvitation.objects.filter(pk=invitation.pk).update(token_hash=hash_token(TOKEN))
    invitation.refresh_from_db()
    return invitation


def form_page(client, query=""):
    page = client.get(f"/s/{TOKEN}/{query}")
    body = page.content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body)
    return page, body, token.group(1) if token else None


def test_get_with_every_score_in_the_link_still_records_nothing(invitation):
    client = Client(enforce_csrf_checks=True)
    page, body, _ = form_page(client, "?csat=1&ces=2&nps=3&comment=hi")
    assert page.status_code == 200
    assert 'name="csat" value="1" checked' in body and 'name="nps" value="3" checked' in body
    assert not SurveyResponse.objects.exists()
    invitation.refresh_from_db()
    assert invitation.status == SurveyInvitation.Status.SENT


def test_a_link_score_off_the_scale_is_ignored_not_an_error(invitation):
    page, body, _ = form_page(Client(), "?csat=9&ces=abc")
    assert page.status_code == 200 and " checked" not in body


def test_every_question_is_on_the_page_with_the_policy_wording(invitation):
    SurveyPolicy.objects.filter(inbox=invitation.inbox).update(wording={"csat": "Were we any good?"})
    _, body, _ = form_page(Client())
    assert "Were we any good?" in body
    assert str(services.QUESTIONS["ces"].text) in body and str(services.QUESTIONS["nps"].text) in body
    assert 'name="nps" value="0"' in body and 'name="nps" value="10"' in body
    assert "<textarea" in body


def test_bad_scores_show_the_form_again_with_errors_and_record_nothing(invitation):
    client = Client(enforce_csrf_checks=True)
    _, _, csrf = form_page(client)
    response = client.post(f"/s/{TOKEN}/", {"csrfmiddlewaretoken": csrf, "csat": "7", "ces": "x", "nps": "10"})
    body = response.content.decode()
    assert response.status_code == 400
    assert "Choose a score from 1 to 5." in body and "Enter a whole number." in body
    assert 'name="nps" value="10" checked' in body  # the valid answer is kept
    assert not SurveyResponse.objects.exists()


def test_an_empty_post_asks_for_an_answer(invitation):
    client = Client(enforce_csrf_checks=True)
    _, _, csrf = form_page(client)
    response = client.post(f"/s/{TOKEN}/", {"csrfmiddlewaretoken": csrf})
    assert response.status_code == 400 and "Answer at least one question." in response.content.decode()


def test_an_answered_survey_shows_the_answer_and_can_be_changed_for_24_hours(invitation):
    client = Client(enforce_csrf_checks=True)
    _, _, csrf = form_page(client)
    client.post(f"/s/{TOKEN}/", {"csrfmiddlewaretoken": csrf, "csat": "2", "comment": "slow"})
    page, body, csrf = form_page(client)
    assert "You have answered already" in body and 'name="csat" value="2" checked' in body and "slow" in body
    client.post(f"/s/{TOKEN}/", {"csrfmiddlewaretoken": csrf, "csat": "4", "comment": "slow but fine"})
    response = SurveyResponse.objects.get()
    assert (response.csat, response.comment) == (4, "slow but fine")


@pytest.mark.parametrize("token", ["nope", "forged-but-long-enough-token-00000", "x" * 300])
def test_unknown_tokens_get_a_friendly_404(invitation, token):
    for response in (Client().get(f"/s/{token}/"), Client().post(f"/s/{token}/", {"csat": "5"})):
        assert response.status_code == 404
        assert "Survey not found" in response.content.decode()
    assert not SurveyResponse.objects.exists()


def test_an_expired_survey_gets_a_friendly_410(invitation):
    SurveyInvitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    response = Client().get(f"/s/{TOKEN}/?csat=5")
    assert response.status_code == 410 and "This survey has expired." in response.content.decode()


def test_a_survey_answered_more_than_24_hours_ago_is_closed(invitation):
    services.survey_answer(token=TOKEN, channel="web", csat=3)
    SurveyInvitation.objects.filter(pk=invitation.pk).update(answered_at=timezone.now() - timedelta(hours=25))
    response = Client().get(f"/s/{TOKEN}/")
    assert response.status_code == 410 and "already answered" in response.content.decode()


def test_a_skipped_invitation_has_no_page(resolve):
    inbox = InboxFactory()
    SurveyPolicy.objects.create(inbox=inbox, enabled=False)
    invitation = SurveyInvitation.objects.get(conversation=resolve(inbox))
    assert invitation.token_hash is None
    assert Client().get(f"/s/{TOKEN}/").status_code == 404


def test_other_methods_are_not_allowed(invitation):
    assert Client().put(f"/s/{TOKEN}/").status_code == 405
