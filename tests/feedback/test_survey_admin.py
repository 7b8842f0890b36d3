"""The admin: policies are edited per inbox; invitations and responses can be read, never written."""

import pytest
from django.contrib.auth import get_user_model

from feedback.models import SurveyInvitation, SurveyResponse
from tests.factories import InboxFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "x"))
    return client


def test_admin_pages_of_surveys(admin_client, resolve):
    # given a sent survey
    inbox = InboxFactory()
    invitation = SurveyInvitation.objects.get(conversation=resolve(inbox))
    # then the admin lists policies, invitations and responses, and adds a policy for an inbox
    for url in (
        "/admin/feedback/surveypolicy/",
        "/admin/feedback/surveypolicy/add/",
        "/admin/feedback/surveyinvitation/",
        "/admin/feedback/surveyresponse/",
        f"/admin/feedback/surveyinvitation/{invitation.pk}/change/",
    ):
        assert admin_client.get(url).status_code == 200, url
    page = admin_client.get(f"/admin/feedback/surveyinvitation/{invitation.pk}/change/").content.decode()
    assert invitation.token_hash not in page
    # and nothing in it writes an invitation or an answer
    assert admin_client.get("/admin/feedback/surveyinvitation/add/").status_code == 403
    assert admin_client.get("/admin/feedback/surveyresponse/add/").status_code == 403
    admin_client.post(f"/admin/feedback/surveyinvitation/{invitation.pk}/change/", {"status": "answered"})
    invitation.refresh_from_db()
    assert invitation.status == "sent" and not SurveyResponse.objects.exists()
