"""The console's account pages."""

from django.urls import path

from . import views

urlpatterns = [
    path("2fa/", views.two_factor, name="two-factor"),
    path("2fa/setup/", views.two_factor_setup, name="two-factor-setup"),
    path("account/", views.account, name="account"),
    path("account/recovery-codes/", views.recovery_codes, name="recovery-codes"),
    path("account/sessions/<int:session_id>/end/", views.session_end, name="account-session-end"),
    path("account/sessions/end-others/", views.sessions_end_others, name="account-sessions-end-others"),
]
