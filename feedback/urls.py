"""The customer's survey page: /s/<token>/ (no login; the token is the credential)."""

from django.urls import path

from . import views

app_name = "feedback"

urlpatterns = [
    path("<str:token>/", views.survey_page, name="survey"),
]
