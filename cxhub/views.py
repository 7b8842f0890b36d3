"""Site-wide views: health check and error pages (JSON for API clients)."""

import hmac

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render

from chat import demo
from chat.consumers import draining
from chat.models import AgentProfile, Conversation

from . import db
from .errors import Unavailable, json_error

JSON_PREFIXES = ("/api/", "/hooks/")


def start(request):
    """`/`: where to go from here, and the demo logins while the demo workspace is in use (DEBUG)."""
    logins = []
    if settings.DEBUG:
        present = set(
            get_user_model().objects.filter(username__in=[u[0] for u in demo.USERS]).values_list("username", flat=True)
        )
        logins = [
            {"username": username, "name": name, "role": "supervisor + admin" if staff else "agent"}
            for username, name, _supervisor, staff in demo.USERS
            if username in present
        ]
    return render(request, "start.html", {"demo_logins": logins, "demo_password": demo.DEMO_PASSWORD})


def healthz(request):
    """Liveness, with the database's reachability, for process managers, monitoring and `make run`.

    Always 200 while the process answers. `degraded`: the process runs and keeps its sockets, but
    the database does not answer within 2 s, so writes get "unavailable, retry" meanwhile.
    Restarting the process would not help (every process shares the database): a liveness probe
    must not restart on it; alert on it instead (docs/operations.md, "Health checks")."""
    if db.database_ping():
        return JsonResponse({"status": "ok", "database": "ok"})
    return JsonResponse({"status": "degraded", "database": "unreachable"})


def readyz(request):
    """Readiness, for load balancers: whether this process should be sent new requests.

    503 with Retry-After while it cannot serve them: the database does not answer within 2 s
    (`unavailable`), or it is shutting down after SIGTERM (`draining`: sockets close with 1012 and
    reconnect elsewhere). 200 `ready` otherwise (docs/operations.md, "Health checks")."""
    if draining.draining():
        response = JsonResponse({"status": "draining", "database": "unknown"}, status=503)
    elif db.database_ping():
        return JsonResponse({"status": "ready", "database": "ok"})
    else:
        response = JsonResponse({"status": "unavailable", "database": "unreachable"}, status=503)
    response["Retry-After"] = str(Unavailable.retry_after)
    return response


def _wants_json(request) -> bool:
    return request.path.startswith(JSON_PREFIXES) or "application/json" in request.headers.get("Accept", "")


def error_400(request, exception=None):
    if _wants_json(request):
        return json_error("bad_request", "Bad request.", 400)
    return render(request, "error.html", {"status": 400, "title": "Bad request"}, status=400)


def error_403(request, exception=None):
    if _wants_json(request):
        return json_error("forbidden", "You may not do this.", 403)
    return render(request, "error.html", {"status": 403, "title": "Forbidden"}, status=403)


def error_404(request, exception=None):
    if _wants_json(request):
        return json_error("not_found", "Not found.", 404)
    return render(request, "error.html", {"status": 404, "title": "Page not found"}, status=404)


def error_500(request):
    if _wants_json(request):
        return json_error("server_error", "Something went wrong on our side; it has been logged.", 500)
    return HttpResponse("<h1>Server error</h1><p>It has been logged.</p>", status=500)


def error_503(request, retry_after: int = Unavailable.retry_after):
    """The database does not answer: try again in `retry_after` seconds (nothing was stored)."""
    detail = str(Unavailable.default_detail)
    if _wants_json(request):
        response = json_error(Unavailable.code, detail, 503)
    else:
        response = render(request, "error.html", {"status": 503, "title": detail}, status=503)
    response["Retry-After"] = str(retry_after)
    return response


def csrf_failure(request, reason=""):
    if _wants_json(request):
        return json_error("csrf_failed", "CSRF check failed; reload the page and try again.", 403)
    return render(request, "error.html", {"status": 403, "title": "Session expired, reload the page"}, status=403)


def prometheus_metrics(request):
    """Operational gauges in the Prometheus text format, for staff or a METRICS_TOKEN bearer."""
    token = getattr(settings, "METRICS_TOKEN", "")
    bearer = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    allowed = request.user.is_authenticated and request.user.is_staff
    if token and bearer:
        allowed = allowed or hmac.compare_digest(bearer, token)
    if not allowed:
        return json_error("not_authenticated", "Staff login or the metrics token is required.", 401)
    lines = [
        "# HELP cxhub_conversations Conversations by status.",
        "# TYPE cxhub_conversations gauge",
    ]
    by_status = dict(Conversation.objects.values_list("status").annotate(n=Count("id")))
    for status in Conversation.Status.values:
        lines.append(f'cxhub_conversations{{status="{status}"}} {by_status.get(status, 0)}')
    queue = Conversation.objects.filter(assignee__isnull=True).active().count()
    lines += [
        "# HELP cxhub_queue_length Active conversations waiting for an agent.",
        "# TYPE cxhub_queue_length gauge",
        f"cxhub_queue_length {queue}",
        "# HELP cxhub_agents Agents by availability.",
        "# TYPE cxhub_agents gauge",
    ]
    by_availability = dict(AgentProfile.objects.values_list("availability").annotate(n=Count("id")))
    for availability in AgentProfile.Availability.values:
        lines.append(f'cxhub_agents{{availability="{availability}"}} {by_availability.get(availability, 0)}')
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; version=0.0.4")
