"""Filters of the survey answer list: period, inbox, agent, team, channel, conversation, contact."""

from datetime import datetime, time, timedelta

import django_filters
from django.db.models import Q
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from chat.models import Channel
from chat.selectors import inboxes_visible_to, is_number
from cxhub.errors import NotFound
from feedback.models import SurveyResponse


def _ids_filter(field_name: str) -> django_filters.MultipleChoiceFilter:
    """`?team=1&team=2`: several numeric ids (checked in the FilterSet's __init__)."""
    return django_filters.MultipleChoiceFilter(field_name=field_name, choices=[])


def _start_of(day) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_default_timezone())


class SurveyResponseFilter(django_filters.FilterSet):
    """`from`/`to` are dates, both inclusive, in the workspace time zone; `period=30d` is the last 30 days."""

    date_from = django_filters.DateFilter(method="filter_from")
    date_to = django_filters.DateFilter(method="filter_to")
    period = django_filters.CharFilter(method="filter_period", max_length=5)
    inbox = django_filters.MultipleChoiceFilter(method="filter_inbox", choices=[])
    agent = _ids_filter("invitation__agent_id")
    team = _ids_filter("invitation__team_id")
    channel = django_filters.MultipleChoiceFilter(field_name="invitation__channel", choices=Channel.choices)
    conversation = _ids_filter("invitation__conversation_id")
    contact = django_filters.MultipleChoiceFilter(method="filter_contact", choices=[])

    class Meta:
        model = SurveyResponse
        fields = ["date_from", "date_to", "period", "inbox", "agent", "team", "channel", "conversation", "contact"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.filters["inbox"].field.valid_value = lambda value: bool(str(value).strip())
        for name in ("agent", "team", "conversation", "contact"):
            self.filters[name].field.valid_value = lambda value: is_number(str(value))

    def filter_from(self, queryset, name, value):
        return queryset.filter(answered_at__gte=_start_of(value))

    def filter_to(self, queryset, name, value):
        return queryset.filter(answered_at__lt=_start_of(value + timedelta(days=1)))

    def filter_period(self, queryset, name, value):
        value = value.strip().lower()
        if not (value.endswith("d") and is_number(value[:-1]) and 1 <= int(value[:-1]) <= 366):
            from rest_framework.exceptions import ValidationError

            raise ValidationError({"period": ["A number of days from 1 to 366, like 7d or 30d."]})
        return queryset.filter(answered_at__gte=timezone.now() - timedelta(days=int(value[:-1])))

    @extend_schema_field(OpenApiTypes.STR)  # a numeric id or a public id
    def filter_inbox(self, queryset, name, values):
        visible = inboxes_visible_to(self.request.user)
        ids = []
        for value in values:
            lookup = Q(public_id=str(value))
            if is_number(str(value)):
                lookup |= Q(pk=int(value))
            inbox_id = visible.filter(lookup).values_list("pk", flat=True).first()
            if inbox_id is None:
                raise NotFound("Inbox not found.")  # a foreign inbox is indistinguishable from a missing one
            ids.append(inbox_id)
        return queryset.filter(invitation__conversation__inbox_id__in=ids)

    @extend_schema_field(OpenApiTypes.INT)
    def filter_contact(self, queryset, name, values):
        ids = [int(v) for v in values]
        return queryset.filter(Q(invitation__contact_id__in=ids) | Q(invitation__contact__merged_into_id__in=ids))


# Query parameters named like docs/metrics.md: ?from=2026-01-01&to=2026-01-31
SurveyResponseFilter.base_filters["from"] = SurveyResponseFilter.base_filters.pop("date_from")
SurveyResponseFilter.base_filters["to"] = SurveyResponseFilter.base_filters.pop("date_to")
