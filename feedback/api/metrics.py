"""Metrics, export and follow-up endpoints (DESIGN.md §3, docs/metrics.md "The metrics API").

Thin: parse and scope the filters (feedback.reports.parse_filters), read, serialise. Every
error is a DomainError, so a client gets the JSON error shape, never a 500.
"""

import csv

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from chat import audit
from chat.selectors import inbox_ids_visible_to, is_number
from cxhub.api import CursorPagination
from cxhub.errors import InvalidInput, NotFound

from .. import followups, metrics, reports
from ..models import FollowUp

FILTER_PARAMETERS = [
    OpenApiParameter("from", str, description="First day, YYYY-MM-DD (workspace time zone), inclusive."),
    OpenApiParameter("to", str, description="Last day, YYYY-MM-DD, inclusive."),
    OpenApiParameter("inbox", str, many=True, description="Inbox id or public id; repeatable."),
    OpenApiParameter("agent", int, many=True, description="Agent user id; repeatable."),
    OpenApiParameter("team", int, many=True, description="Team id; repeatable."),
    OpenApiParameter("channel", str, many=True, enum=["web", "email", "sms", "api"], description="Repeatable."),
]


def _one_of(params, name: str, choices, *, default=None) -> str:
    values = params.getlist(name)
    if not values:
        if default is not None:
            return default
        raise InvalidInput(f"`{name}` is required.", fields={name: ["This field is required."]})
    if len(values) > 1 or values[0] not in choices:
        raise InvalidInput(f"Unknown {name}.", fields={name: [f"Not one of {', '.join(choices)}."]})
    return values[0]


SERIES_METRICS = tuple(n for n in metrics.METRIC_NAMES if n != "at_risk_contacts")


@extend_schema(parameters=FILTER_PARAMETERS, responses={200: dict})
class MetricsSummaryView(APIView):
    """Every figure of docs/metrics.md for the period, and for the period just before it."""

    def get(self, request):
        filters = reports.parse_filters(request.user, request.query_params)
        return Response(reports.summary(filters))


@extend_schema(
    parameters=[
        OpenApiParameter("metric", str, enum=list(SERIES_METRICS), required=True),
        OpenApiParameter("interval", str, enum=["day", "week"]),
        *FILTER_PARAMETERS,
    ],
    responses={200: dict},
)
class MetricsTimeseriesView(APIView):
    """One figure per day or week (Monday-start weeks, clipped to the period); no data → null."""

    def get(self, request):
        metric = _one_of(request.query_params, "metric", SERIES_METRICS)
        interval = _one_of(request.query_params, "interval", reports.INTERVALS, default="day")
        filters = reports.parse_filters(request.user, request.query_params)
        return Response(reports.timeseries(filters, metric=metric, interval=interval))


@extend_schema(
    parameters=[
        OpenApiParameter("metric", str, enum=list(SERIES_METRICS), required=True),
        OpenApiParameter("by", str, enum=list(reports.BREAKDOWN_DIMENSIONS), required=True),
        *FILTER_PARAMETERS,
    ],
    responses={200: dict},
)
class MetricsBreakdownView(APIView):
    """One figure per agent, channel, inbox or team."""

    def get(self, request):
        metric = _one_of(request.query_params, "metric", SERIES_METRICS)
        by = _one_of(request.query_params, "by", reports.BREAKDOWN_DIMENSIONS)
        filters = reports.parse_filters(request.user, request.query_params)
        return Response(reports.breakdown(filters, metric=metric, by=by))


@extend_schema(parameters=FILTER_PARAMETERS, responses={200: dict})
class MetricsChartsView(APIView):
    """What the dashboard draws beside the figures: score distributions and the joins (CSAT by first
    response bucket, CES by channel switches, CSAT by SLA met against breached)."""

    def get(self, request):
        filters = reports.parse_filters(request.user, request.query_params)
        return Response(
            {
                "from": filters.day_from.isoformat(),
                "to": filters.day_to.isoformat(),
                "filters": filters.echo,
                "distributions": reports.distributions(filters),
                "csat_by_first_response": reports.csat_by_first_response(filters),
                "ces_by_channel_switches": reports.ces_by_channel_switches(filters),
                "csat_by_sla": reports.csat_by_sla(filters),
            }
        )


class CSVRenderer(BaseRenderer):
    """Lets `Accept: text/csv` through content negotiation; the view streams the body itself."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return JSONRenderer().render(data)  # errors: still the JSON error shape


class _Echo:
    def write(self, value):
        return value


@extend_schema(parameters=FILTER_PARAMETERS, responses={(200, "text/csv"): str})
class ConversationExportView(APIView):
    """One row per conversation opened in the period, streamed; the period is limited (400 above it)."""

    renderer_classes = [JSONRenderer, CSVRenderer]

    def get(self, request):
        filters = reports.parse_filters(request.user, request.query_params, max_days=reports.export_max_days())
        audit.record(
            actor=request.user, action="conversations_exported", target_type="export", target_id="", data=filters.echo
        )
        writer = csv.writer(_Echo())

        def lines():
            yield writer.writerow(reports.EXPORT_COLUMNS)
            for row in reports.export_rows(filters):
                yield writer.writerow(row)

        response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
        name = f"conversations-{filters.day_from.isoformat()}-{filters.day_to.isoformat()}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


# --- follow-ups --------------------------------------------------------------------------


class FollowUpSerializer(serializers.ModelSerializer):
    owner = serializers.SerializerMethodField()
    contact = serializers.SerializerMethodField()
    inbox = serializers.IntegerField(source="conversation.inbox_id", read_only=True)
    response = serializers.SerializerMethodField()

    class Meta:
        model = FollowUp
        fields = ["id", "status", "reason", "owner", "contact", "conversation", "inbox", "response", "note",
                  "created_at", "closed_at"]  # fmt: skip

    def get_owner(self, obj) -> dict | None:
        if obj.owner is None:
            return None
        profile = getattr(obj.owner, "agent", None)
        return {"id": obj.owner_id, "name": getattr(profile, "display_name", "") or obj.owner.get_username()}

    def get_contact(self, obj) -> dict:
        c = obj.contact
        return {"id": c.pk, "name": str(c), "at_risk": c.is_at_risk, "at_risk_until": c.at_risk_until}

    def get_response(self, obj) -> dict | None:
        """The detractor answer; null for a follow-up raised by a prediction (`reason` likely_unhappy)."""
        r = obj.response
        if r is None:
            return None
        return {"id": r.pk, "csat": r.csat, "ces": r.ces, "nps": r.nps, "comment": r.comment,
                "channel": r.channel, "answered_at": r.answered_at}  # fmt: skip


class FollowUpAssignSerializer(serializers.Serializer):
    owner = serializers.IntegerField()


class FollowUpCloseSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=followups.NOTE_MAX_CHARS, allow_blank=False, trim_whitespace=True)


class FollowUpPagination(CursorPagination):
    ordering = ("-created_at", "-id")


def followups_visible_to(user):
    qs = FollowUp.objects.select_related("owner", "owner__agent", "contact", "conversation", "response")
    ids = inbox_ids_visible_to(user)
    if ids is not None:
        qs = qs.filter(conversation__inbox_id__in=ids)
    return qs


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=["open", "closed"], many=True),
            OpenApiParameter("owner", str, description="A user id, or `me`."),
            *FILTER_PARAMETERS,
        ]
    ),
    assign=extend_schema(request=FollowUpAssignSerializer, responses=FollowUpSerializer),
    close=extend_schema(request=FollowUpCloseSerializer, responses=FollowUpSerializer),
)
class FollowUpViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Follow-ups of detractor answers: list, assign, close with a note."""

    serializer_class = FollowUpSerializer
    pagination_class = FollowUpPagination

    def get_queryset(self):
        qs = followups_visible_to(self.request.user)
        if self.action != "list":
            return qs
        params = self.request.query_params
        statuses = [v for s in params.getlist("status") for v in s.split(",") if v]
        if statuses:
            if unknown := [s for s in statuses if s not in FollowUp.Status.values]:
                raise InvalidInput("Unknown status.", fields={"status": [f"Not open or closed: {unknown[0][:40]!r}."]})
            qs = qs.filter(status__in=statuses)
        owner = params.get("owner")
        if owner:
            if owner == "me":
                qs = qs.filter(owner=self.request.user)
            elif is_number(owner) and len(owner) <= 18:
                qs = qs.filter(owner_id=int(owner))
            else:
                raise InvalidInput("Unknown owner.", fields={"owner": ["A user id or `me`."]})
        if any(k in params for k in ("from", "to", "inbox", "agent", "team", "channel")):
            filters = reports.parse_filters(self.request.user, params, own_figures=False)
            if "from" in params or "to" in params:
                start, end = filters.bounds()
                qs = qs.filter(created_at__gte=start, created_at__lt=end)
            qs = reports.narrow(
                qs,
                filters,
                inbox="conversation__inbox_id",
                agent="response__invitation__agent_id",
                team="response__invitation__team_id",
                channel="response__invitation__channel",
            )
        return qs

    def get_object(self):
        pk = self.kwargs["pk"]
        follow_up = self.get_queryset().filter(pk=int(pk)).first() if is_number(str(pk)) else None
        if follow_up is None:
            raise NotFound("Follow-up not found.")
        return follow_up

    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        follow_up = self.get_object()
        data = FollowUpAssignSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        owner = get_user_model().objects.filter(Q(pk=data.validated_data["owner"])).first()
        if owner is None:
            raise InvalidInput("No such user.", fields={"owner": ["No such user."]})
        followups.followup_assign(follow_up=follow_up, owner=owner, by=request.user)
        return Response(self.get_serializer(self.get_object()).data)

    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        follow_up = self.get_object()
        data = FollowUpCloseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        followups.followup_close(follow_up=follow_up, by=request.user, note=data.validated_data["note"])
        return Response(self.get_serializer(self.get_object()).data)


__all__ = [
    "ConversationExportView",
    "FollowUpViewSet",
    "MetricsBreakdownView",
    "MetricsChartsView",
    "MetricsSummaryView",
    "MetricsTimeseriesView",
]
