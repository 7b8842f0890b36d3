"""The audit log's one door: who did what to which thing (admins, supervisors, privacy actions).

Every app records through `record(...)`, in the transaction of the change it describes, so an
action that rolls back leaves no line. `accounts` exports the log as JSON lines.
"""

from django.db import models

from .models import AuditLog


def record(*, actor, action: str, target: models.Model | None = None, data: dict | None = None, **target_by_name):
    """Write one audit line. `target` is any saved row (its model name and id are kept), or pass
    `target_type=` and `target_id=` for something that is not a row."""
    if target is not None:
        target_type, target_id = target._meta.model_name, str(target.pk)
    else:
        target_type, target_id = target_by_name.get("target_type", ""), str(target_by_name.get("target_id", ""))
    return AuditLog.objects.create(
        actor=actor if actor is not None and getattr(actor, "is_authenticated", False) else None,
        action=action,
        target_type=target_type,
        target_id=target_id,
        data=data or {},
    )
