"""The dashboard and follow-up pages of the console: server-rendered, scoped like the API.

The dashboard page carries only its filters; its script (feedback/static/feedback/dashboard.js)
reads the figures from /api/v1/metrics/… with the same query string, so the page and the API
can never disagree. The follow-up page works without JavaScript (plain forms).
"""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import QueryDict
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
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


DATE_FIELDS = {"from": gettext_lazy("From"), "to": gettext_lazy("To")}
FILTER_LABELS = {
    "inbox": gettext_lazy("Inbox"),
    "agent": gettext_lazy("Agent"),
    "team": gettext_lazy("Team"),
    "channel": gettext_lazy("Channel"),
}
CHIP_NAMED = 2  # a chip names up to two values, then says "3 selected" (as chat/static/console/filters.js)


def _readable(text: str) -> str:
    for name, label in DATE_FIELDS.items():
        text = text.replace(f"`{name}`", str(label))
    return text


def _dashboard_filters(user, params) -> tuple[reports.MetricFilters, QueryDict, dict[str, str]]:
    """The filters the page can show, the query they come from, and what was wrong.

    `errors` has "dates" (with "from_invalid" / "to_invalid" for the fields at fault) and the
    name of each other filter it dropped, each with the text to show.

    A bad period (malformed date, from after to, too long) falls back to the default period, and
    a bad inbox, agent, team or channel value to no filter on it, so the page still shows its
    figures with the error beside the field. A foreign inbox or agent stays a 404 (NotFound).
    """
    params = params.copy()
    errors: dict[str, str] = {}
    while True:
        try:
            return reports.parse_filters(user, params), params, errors
        except InvalidInput as exc:
            fields = {name: problems for name, problems in (exc.fields or {}).items() if name in params}
            if not fields:
                raise
            if set(fields) & set(DATE_FIELDS):
                problems = [
                    f"{label}: {_readable(problem)}"
                    for name, label in DATE_FIELDS.items()
                    for problem in fields.get(name, [])
                ]
                hint = " " + _("Dates are YYYY-MM-DD.") if any("Not a date" in p for p in problems) else ""
                errors["dates"] = " ".join(problems) + hint
                errors.update({f"{name}_invalid": "yes" for name in DATE_FIELDS if name in fields})
                fields = dict.fromkeys(DATE_FIELDS)
            else:
                for name, problems in fields.items():
                    errors[name] = f"{FILTER_LABELS.get(name, name)}: {' '.join(problems)}"
            for name in fields:
                params.pop(name, None)


def _chip(key: str, options: list[tuple[str, str]], selected) -> dict:
    """One filter chip: its checkboxes and the summary the script would write ("Channel: Email")."""
    chosen = {str(value) for value in selected}
    boxes = [{"value": value, "label": label, "checked": value in chosen} for value, label in options]
    names = [box["label"] for box in boxes if box["checked"]]
    label = str(FILTER_LABELS[key])
    summary = label
    if names:
        if len(names) > CHIP_NAMED:
            selected = ngettext("%(count)s selected", "%(count)s selected", len(names)) % {"count": len(names)}
        else:
            selected = ", ".join(names)
        summary = f"{label}: {selected}"
    return {"key": key, "label": label, "options": boxes, "summary": summary, "active": bool(names)}


@login_required
def dashboard(request):
    try:
        filters, query, errors = _dashboard_filters(request.user, request.GET)
    except DomainError as exc:
        return _error_page(request, exc)
    supervisor = user_is_supervisor(request.user)
    echo = filters.echo
    inboxes = [(str(i.pk), i.name) for i in inboxes_visible_to(request.user).order_by("name")]
    chips = [_chip("inbox", inboxes, echo.get("inbox", []))]
    if supervisor:
        agents = AgentProfile.objects.select_related("user").order_by("display_name")
        chips.append(_chip("agent", [(str(a.user_id), a.display_name) for a in agents], echo.get("agent", [])))
        teams = Team.objects.order_by("name")
        chips.append(_chip("team", [(str(t.pk), t.name) for t in teams], echo.get("team", [])))
    chips.append(_chip("channel", [(value, str(label)) for value, label in Channel.choices], echo.get("channel", [])))
    # The date fields show what was asked for, even when the page had to fall back.
    dates = {name: request.GET.get(name, echo[name]) if "dates" in errors else echo[name] for name in DATE_FIELDS}
    context = {
        "filters": filters,
        "supervisor": supervisor,
        "chips": chips,
        "dates": dates,
        "errors": errors,
        "filter_errors": [text for name, text in errors.items() if name in FILTER_LABELS],
        "query": query.urlencode(),
        "page_config": {
            "query": query.urlencode(),
            "supervisor": supervisor,
            "inbox_ids": echo.get("inbox"),  # null: every inbox the user sees
        },
    }
    return render(request, "feedback/dashboard.html", context, status=400 if errors else 200)


@login_required
def followup_list(request):
    status = request.GET.get("status", "open")
    qs = followups_visible_to(request.user).select_related(
        "response__invitation", "conversation__inbox", "conversation__satisfaction"
    )
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
