"""The account pages of the console: the one-time code step, the authenticator set-up, recovery codes."""

from base64 import b32encode

import django_otp
import segno
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from cxhub.errors import DomainError, NotFound

from . import selectors, services


def _next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or "/console/"
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return "/console/"
    return target


@login_required
@require_http_methods(["GET", "POST"])
def two_factor(request):
    """After the password: the code from the authenticator app, or a recovery code."""
    user = request.user
    if selectors.session_two_factor_verified(request.session) or not selectors.two_factor_required(user):
        return HttpResponseRedirect(_next(request))
    if not selectors.two_factor_enrolled(user):  # their role must use one: set it up now
        return HttpResponseRedirect(f"/console/2fa/setup/?next={_next(request)}")
    error = None
    if request.method == "POST":
        try:
            device = services.two_factor_verify(user=user, code=request.POST.get("code", ""))
        except DomainError as refusal:
            error = refusal.detail
        else:
            django_otp.login(request, device)
            return HttpResponseRedirect(_next(request))
    return render(
        request, "accounts/two_factor.html", {"error": error, "next": _next(request)}, status=400 if error else 200
    )


@login_required
@require_http_methods(["GET", "POST"])
def two_factor_setup(request):
    """Set up an authenticator app: scan the code, type its first code, keep the recovery codes."""
    user = request.user
    if selectors.two_factor_enrolled(user) and not selectors.session_two_factor_verified(request.session):
        # replacing an authenticator needs the current one: a password alone must not do it
        return HttpResponseRedirect(f"/console/2fa/?next={_next(request)}")
    error = None
    if request.method == "POST":
        try:
            device, codes = services.totp_enrol_confirm(user=user, code=request.POST.get("code", ""))
        except DomainError as refusal:
            error = refusal.detail
        else:
            django_otp.login(request, device)
            return render(request, "accounts/recovery_codes.html", {"codes": codes, "next": _next(request)})
    device = selectors.totp_device_of(user, confirmed=False) if error else None
    device = device or services.totp_enrol_start(user=user)
    context = {
        "error": error,
        "next": _next(request),
        "secret": device_secret(device),
        "qr": segno.make(device.config_url, error="m").svg_data_uri(scale=4),
        "mandatory": selectors.two_factor_mandatory(user),
    }
    return render(request, "accounts/two_factor_setup.html", context, status=400 if error else 200)


def device_secret(device) -> str:
    """The secret as an authenticator app takes it typed in: base32, in groups of four."""
    text = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


@login_required
@require_POST
def recovery_codes(request):
    """New recovery codes (the old ones stop working), shown once."""
    try:
        codes = services.recovery_codes_regenerate(user=request.user)
    except DomainError:
        return HttpResponseRedirect("/console/account/")
    return render(request, "accounts/recovery_codes.html", {"codes": codes, "next": "/console/account/"})


@login_required
def account(request):
    """The agent's account: two-factor status; sessions and API tokens join it."""
    user = request.user
    context = {
        "enrolled": selectors.two_factor_enrolled(user),
        "mandatory": selectors.two_factor_mandatory(user),
        "recovery_codes_left": selectors.recovery_codes_left(user),
        "sessions": selectors.sessions_of(user),
        "current_session_key": request.session.session_key,
    }
    return render(request, "accounts/account.html", context)


@login_required
@require_POST
def session_end(request, session_id: int):
    """Sign one of my sessions out (another browser, a lost laptop); its console closes at once."""
    try:
        session = selectors.session_get(request.user, session_id)
    except NotFound:
        raise Http404("No such session.") from None
    services.session_end(session=session, by=request.user)
    return HttpResponseRedirect("/console/account/", status=303)


@login_required
@require_POST
def sessions_end_others(request):
    services.sessions_end_others(user=request.user, keep_session_key=request.session.session_key)
    return HttpResponseRedirect("/console/account/", status=303)
