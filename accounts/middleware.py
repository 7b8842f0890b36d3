"""The two-factor gate: a session signed in with a password only, whose user needs a one-time
code, reaches nothing but the code's pages (the console and admin redirect there; the API says 403)."""

from django.contrib.auth.views import redirect_to_login
from django.utils.translation import gettext as _

from cxhub.errors import json_error

from . import selectors
from .errors import ErrorCode

TWO_FACTOR_URL = "/console/2fa/"
# Pages an unverified session may still open: signing in and out, the code's pages, assets.
OPEN_PREFIXES = (
    TWO_FACTOR_URL,
    "/console/login/",
    "/console/logout/",
    "/admin/login/",
    "/admin/logout/",
    "/static/",
    "/i18n/",
    "/healthz",
)


class TwoFactorGate:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not request.path.startswith(OPEN_PREFIXES)
            and not selectors.session_passes_two_factor(user, request.session)
        ):
            if request.path.startswith("/api/"):
                return json_error(
                    ErrorCode.TWO_FACTOR_REQUIRED,
                    _("Enter the one-time code from your authenticator app first."),
                    403,
                )
            return redirect_to_login(request.get_full_path(), TWO_FACTOR_URL)
        return self.get_response(request)
