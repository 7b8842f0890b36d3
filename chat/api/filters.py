"""Filters of the conversation and contact lists; every filter takes several values."""

import django_filters
from django.db.models import Exists, OuterRef, Q

from chat.models import Channel, Contact, ContactLabel, Conversation, ConversationLabel, Message, Priority
from chat.selectors import parse_id
from chat.workspace import attribute_filter


def _ids_filter(field_name: str) -> django_filters.MultipleChoiceFilter:
    """`?team=1&team=2`: several numeric ids (checked in the FilterSet's __init__)."""
    return django_filters.MultipleChoiceFilter(field_name=field_name, choices=[])


class ConversationFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Conversation.Status.choices)
    priority = django_filters.MultipleChoiceFilter(choices=Priority.choices)
    inbox = django_filters.MultipleChoiceFilter(method="filter_inbox", choices=[])
    assignee = django_filters.MultipleChoiceFilter(method="filter_assignee", choices=[])
    team = _ids_filter("team_id")
    channel = django_filters.MultipleChoiceFilter(choices=Channel.choices, method="filter_channel")
    contact = _ids_filter("contact_id")
    label = django_filters.MultipleChoiceFilter(field_name="labels", method="filter_label", choices=[])
    attribute = django_filters.MultipleChoiceFilter(
        field_name="contact__attributes", method="filter_attribute", choices=[], label="key:value (each must match)"
    )
    following = django_filters.BooleanFilter(method="filter_following", label="Only those the asking agent follows.")
    q = django_filters.CharFilter(method="filter_q", max_length=200)

    class Meta:
        model = Conversation
        fields = [
            "status",
            "priority",
            "inbox",
            "assignee",
            "team",
            "channel",
            "contact",
            "label",
            "attribute",
            "following",
            "q",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # inbox: numeric id or public id; assignee: user id, "me" or "none".
        self.filters["inbox"].field.valid_value = lambda value: bool(str(value).strip())
        self.filters["assignee"].field.valid_value = lambda value: bool(parse_id(value)) or value in ("me", "none")
        self.filters["attribute"].field.valid_value = lambda value: 0 < len(str(value)) <= 200
        for name in ("team", "contact", "label"):
            self.filters[name].field.valid_value = lambda value: bool(parse_id(value))

    def filter_inbox(self, queryset, name, values):
        ids = [parse_id(v) for v in values if parse_id(v)]
        public_ids = [v for v in values if not parse_id(v)]
        return queryset.filter(Q(inbox_id__in=ids) | Q(inbox__public_id__in=public_ids))

    def filter_assignee(self, queryset, name, values):
        query = Q(assignee_id__in=[parse_id(v) for v in values if parse_id(v)])
        if "me" in values:
            query |= Q(assignee_id=self.request.user.pk)
        if "none" in values:
            query |= Q(assignee__isnull=True)
        return queryset.filter(query)

    def filter_label(self, queryset, name, values):
        """`?label=1&label=2`: conversations with any of these labels."""
        labelled = ConversationLabel.objects.filter(conversation=OuterRef("pk"), label_id__in=values)
        return queryset.filter(Exists(labelled))

    def filter_attribute(self, queryset, name, values):
        for value in values:
            queryset = queryset.filter(attribute_filter(value, prefix="contact__"))
        return queryset

    def filter_following(self, queryset, name, value):
        following = Q(participants__user_id=self.request.user.pk)
        return queryset.filter(following) if value else queryset.exclude(following)

    def filter_channel(self, queryset, name, values):
        customer_wrote_on = Message.objects.filter(
            conversation=OuterRef("pk"), channel__in=values, direction=Message.Direction.INBOUND
        )
        return queryset.filter(Q(last_customer_channel__in=values) | Exists(customer_wrote_on))

    def filter_q(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(subject__icontains=value)
            | Q(contact__name__icontains=value)
            | Q(contact__email__icontains=value)
            | Q(contact__phone__icontains=value)
        )


class ContactFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_q", max_length=200)
    at_risk = django_filters.BooleanFilter(method="filter_at_risk")
    label = django_filters.MultipleChoiceFilter(field_name="labels", method="filter_label", choices=[])
    attribute = django_filters.CharFilter(method="filter_attribute", max_length=200, label="key:value of attributes")

    class Meta:
        model = Contact
        fields = ["q", "at_risk", "label", "attribute"]

    def filter_attribute(self, queryset, name, value):
        return queryset.filter(attribute_filter(value))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.filters["label"].field.valid_value = lambda value: bool(parse_id(value))

    def filter_label(self, queryset, name, values):
        return queryset.filter(Exists(ContactLabel.objects.filter(contact=OuterRef("pk"), label_id__in=values)))

    def filter_q(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(name__icontains=value)
            | Q(email__icontains=value)
            | Q(phone__icontains=value)
            | Q(external_id=value)
            | Q(identities__value__iexact=value)
        ).distinct()

    def filter_at_risk(self, queryset, name, value):
        from django.utils import timezone

        query = Q(at_risk_until__gt=timezone.now())
        return queryset.filter(query) if value else queryset.exclude(query)
