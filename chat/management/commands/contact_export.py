"""`manage.py contact_export <id>`: everything stored about a contact, as JSON on stdout (audited)."""

import json

from django.core.management.base import BaseCommand, CommandError

from chat import privacy
from chat.models import Contact


class Command(BaseCommand):
    help = "Print everything stored about a contact as JSON (a data subject access request)."

    def add_arguments(self, parser):
        parser.add_argument("contact_id", type=int)
        parser.add_argument("--indent", type=int, default=2)

    def handle(self, *args, contact_id, indent, **options):
        contact = Contact.objects.filter(pk=contact_id).first()
        if contact is None:
            raise CommandError(f"No contact {contact_id}.")
        document = privacy.contact_export(contact=contact, by=None)
        self.stdout.write(json.dumps(document, indent=indent, ensure_ascii=False))
