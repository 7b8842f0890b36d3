"""The account gate, after Django's authentication, for every request of a signed-in user:

- the login session is listed (`AgentSession`, its last use noted at most once a minute), and a
  session that was ended is signed out;
- a session signed in with a password only, whose user needs a one-time code, reaches nothing but
  the code's pages (the console and admin redirect there; the API says 403).
"""

import time

from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.utils.translation import gettext as _

from cxhub.errors import json_error

from . import selectors, services
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
SEEN_KEY = "accounts.seen_at"
NO_CODE_NEEDED_KEY = "accounts.no_code_needed_at"
CHECK_EVERY_SECONDS = 60


class AccountGate:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return self.get_response(request)
        if not self._session_is_live(request):
            logout(request)
            return self.get_response(request)  # as anybody signed out: the login page, or a 403
        if not request.path.startswith(OPEN_PREFIXES) and not self._passes_two_factor(request):
            if request.path.startswith("/api/"):
                return json_error(
                    ErrorCode.TWO_FACTOR_REQUIRED,
                    _("Enter the one-time code from your authenticator app first."),
                    403,
                )
            return redirect_to_login(request.get_full_path(), TWO_FACTOR_URL)
        return self.get_response(request)

    @staticmethod
    def _passes_two_factor(request) -> bool:
        """Verified sessions pass at once; for the others, whether a code is needed is read again at
        most once a minute (a workspace that starts requiring one reaches open sessions within it)."""
        session = request.session
        if selectors.session_two_factor_verified(session):
            return True
        now = time.time()
        if now - session.get(NO_CODE_NEEDED_KEY, 0) < CHECK_EVERY_SECONDS:
            return True
        if selectors.two_factor_required(request.user):
            session.pop(NO_CODE_NEEDED_KEY, None)
            return False
        session[NO_CODE_NEEDED_KEY] = now
        return True

    @staticmethod
    def _session_is_live(request) -> bool:
        session = request.session
        if not session.session_key:
            return True  # a request authenticated otherwise (a test client's force_authenticate)
        now = time.time()
        if now - session.get(SEEN_KEY, 0) < CHECK_EVERY_SECONDS:
            return True
        live = services.session_touch(
            user=request.user,
            session_key=session.session_key,
            ip_address=request.META.get("REMOTE_ADDR") or None,
            user_agent=request.headers.get("User-Agent", ""),
        )
        if live:
            session[SEEN_KEY] = now
        return live
