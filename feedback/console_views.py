"""The dashboard and follow-up pages of the console: server-rendered, scoped like the API.

The dashboard page carries only its filters; its script (feedback/static/feedback/dashboard.js)
reads the figures from /api/v1/metrics/… with the same query string, so the page and the API
can never disagree. The follow-up page works without JavaScript (plain forms).
"""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from chat.models import AgentProfile, Channel, Team
from chat.selectors import inboxes_visible_to, is_number, user_is_supervisor
from cxhub.errors import DomainError, InvalidInput, NotFound

from . import followups, reports
from .api.metrics import followups_visible_to
from .models import FollowUp

FOLLOW_UP_PAGE = 200


def _error_page(request, exc: DomainError):
    return render(request, "feedback/console_error.html", {"error": exc}, status=exc.status_code)


@login_required
def dashboard(request):
    try:
        filters = reports.parse_filters(request.user, request.GET)
    except DomainError as exc:
        return _error_page(request, exc)
    supervisor = user_is_supervisor(request.user)
    agents = AgentProfile.objects.select_related("user").order_by("display_name") if supervisor else []
    context = {
        "filters": filters,
        "supervisor": supervisor,
        "inboxes": inboxes_visible_to(request.user).order_by("name"),
        "agents": agents,
        "teams": Team.objects.order_by("name"),
        "channels": Channel.choices,
        "selected": {
            "inbox": set(filters.echo.get("inbox", [])),
            "agent": set(filters.echo.get("agent", [])),
            "team": set(filters.echo.get("team", [])),
            "channel": set(filters.echo.get("channel", [])),
        },
        "query": request.GET.urlencode(),
        "page_config": {"query": request.GET.urlencode(), "supervisor": supervisor},
    }
    return render(request, "feedback/dashboard.html", context)


@login_required
def followup_list(request):
    status = request.GET.get("status", "open")
    qs = followups_visible_to(request.user).select_related("response__invitation", "conversation__inbox")
    if status in FollowUp.Status.values:
        qs = qs.filter(status=status)
    visible_inboxes = inboxes_visible_to(request.user)
    owners = (
        get_user_model()
        .objects.filter(is_active=True, inbox_memberships__inbox__in=visible_inboxes)
        .select_related("agent")
        .distinct()
        .order_by("username")
    )
    context = {
        "follow_ups": list(qs.order_by("-created_at", "-id")[:FOLLOW_UP_PAGE]),
        "status": status,
        "owners": owners,
    }
    return render(request, "feedback/followups.html", context)


def _follow_up(request, follow_up_id: int) -> FollowUp | None:
    return followups_visible_to(request.user).filter(pk=follow_up_id).first()


@login_required
@require_POST
def followup_assign(request, follow_up_id: int):
    follow_up = _follow_up(request, follow_up_id)
    if follow_up is None:
        return _error_page(request, NotFound("Follow-up not found."))
    owner_id = request.POST.get("owner", "")
    owner = get_user_model().objects.filter(pk=int(owner_id)).first() if is_number(owner_id) else None
    try:
        if owner is None:
            raise InvalidInput("Pick someone to assign it to.")
        followups.followup_assign(follow_up=follow_up, owner=owner, by=request.user)
        messages.success(request, "Follow-up assigned.")
    except DomainError as exc:
        messages.error(request, exc.detail)
    return redirect("console-followups")


@login_required
@require_POST
def followup_close(request, follow_up_id: int):
    follow_up = _follow_up(request, follow_up_id)
    if follow_up is None:
        return _error_page(request, NotFound("Follow-up not found."))
    try:
        followups.followup_close(follow_up=follow_up, by=request.user, note=request.POST.get("note", ""))
        messages.success(request, "Follow-up closed.")
    except DomainError as exc:
        messages.error(request, exc.detail)
    return redirect("console-followups")
