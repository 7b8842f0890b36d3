"""Login throttling (django-axes): the backend that counts attempts and the lockout answer.

Five failed logins for one username from one address lock that pair out for a while
(AXES_FAILURE_LIMIT, AXES_COOLOFF_MINUTES). The lockout answers JSON on /api/ (the error
shape of cxhub/errors.py, status 429 with Retry-After) and a plain page elsewhere (the
console and admin login forms).
"""

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off
from django.shortcuts import render

from .errors import json_error
from .views import _wants_json


class LoginThrottleBackend(AxesStandaloneBackend):
    """Axes' lockout check for logins that come with a request.

    Logins without a request (Django's test client, the shell, management commands) do not
    come from the network, so there is no address to throttle and nothing to check.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def _retry_after_seconds(request) -> int:
    cool_off = get_cool_off(request)
    return int(cool_off.total_seconds()) if cool_off else 0


def lockout_response(request, original_response=None, credentials=None):
    """AXES_LOCKOUT_CALLABLE: JSON for API clients, a friendly page for people."""
    retry_after = _retry_after_seconds(request)
    minutes = max(1, round(retry_after / 60)) if retry_after else None
    if _wants_json(request):
        response = json_error(
            "login_locked_out",
            "Too many failed logins; try again later.",
            429,
            fields={"retry_after_seconds": retry_after} if retry_after else None,
        )
    else:
        response = render(request, "lockout.html", {"minutes": minutes}, status=429)
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response
