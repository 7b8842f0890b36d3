"""Django admin that writes through the services: a service's refusal is a form error, never a 500.

A ModelAdmin built on `ServiceModelAdmin` applies a change form by calling services in
`save_model` (inside the admin's own transaction). When a service refuses (a `DomainError`:
an agent who is not in the inbox, a reopen while the contact has another open conversation,
an invalid survey policy), the whole POST is rolled back (nothing is half-saved) and the same
form is shown again with the service's words on the field they belong to.

    with refused_as("assignee"):
        services.conversation_assign(conversation=conversation, assignee=user, by=request.user)

Bulk actions call the service once per object and report each refusal with `message_user`.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.contrib import admin
from django.forms import BaseForm

from .errors import DomainError


class ServiceRefusal(Exception):
    """A service refused the change a form asked for; `field` is where the form shows it."""

    def __init__(self, error: DomainError, *, field: str | None = None, aliases: dict | None = None):
        self.error = error
        self.field = field
        self.aliases = aliases or {}
        super().__init__(error.detail)

    def add_to(self, form: BaseForm) -> None:
        """Put the service's messages on the form: on their fields when it has them, else on `field`."""
        placed = False
        for name, messages in (self.error.fields or {}).items():
            target = self.aliases.get(name, name)
            target = target if target in form.fields else self._fallback(form)
            for message in messages if isinstance(messages, list | tuple) else [messages]:
                form.add_error(target, str(message))
                placed = True
        if not placed:
            form.add_error(self._fallback(form), self.error.detail)

    def _fallback(self, form: BaseForm) -> str | None:
        return self.field if self.field in form.fields else None


@contextmanager
def refused_as(field: str | None = None, **aliases: str) -> Iterator[None]:
    """A DomainError raised in the block becomes a ServiceRefusal shown on `field`
    (`aliases` renames the service's field names to the form's, e.g. until="snoozed_until")."""
    try:
        yield
    except DomainError as error:
        raise ServiceRefusal(error, field=field, aliases=aliases) from error


def deleted_with_its_owner(request, obj) -> bool:
    """For rows never deleted on their own (a webhook's delivery log, an inbox's survey policy):
    True only while the admin deletes what owns them (their subscription, their inbox), whose
    delete page collects them; False on their own list and pages."""
    match = getattr(request, "resolver_match", None)
    if obj is None or match is None:
        return False
    return not (match.url_name or "").startswith(f"{obj._meta.app_label}_{obj._meta.model_name}_")


class ServiceModelAdmin(admin.ModelAdmin):
    """A ModelAdmin whose `save_model` calls services (see the module's docstring)."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ServiceRefusal as refusal:
            # The admin's transaction is rolled back; the same POST is shown again with the error.
            request.service_refusal = refusal
            return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        refusal = getattr(request, "service_refusal", None)
        if refusal is None:
            return form

        class Refused(form):
            def clean(self):
                cleaned_data = super().clean()
                refusal.add_to(self)
                return cleaned_data

        Refused.__name__ = form.__name__
        return Refused

    def run_per_object(self, request, queryset, service, *, done: str) -> None:
        """A bulk action: `service(obj)` for each selected object, each in its own transaction;
        the successes are counted and every refusal is named."""
        succeeded = 0
        for obj in queryset:
            try:
                service(obj)
            except DomainError as error:
                self.message_user(request, f"{obj}: {error.detail}", level="error")
            else:
                succeeded += 1
        if succeeded:
            self.message_user(request, done.format(count=succeeded), level="success")
