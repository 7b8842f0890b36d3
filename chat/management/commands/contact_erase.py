"""`manage.py contact_erase <id>`: remove a contact's personal data, keeping anonymous metric rows (audited)."""

import json

from django.core.management.base import BaseCommand, CommandError

from chat import privacy
from chat.models import Contact


class Command(BaseCommand):
    help = "Erase a contact's personal data (names, identities, message bodies, files, comments). Irreversible."

    def add_arguments(self, parser):
        parser.add_argument("contact_id", type=int)
        parser.add_argument(
            "--noinput", "--no-input", action="store_false", dest="interactive", help="Do not ask for confirmation."
        )

    def handle(self, *args, contact_id, interactive, **options):
        contact = Contact.objects.filter(pk=contact_id).first()
        if contact is None:
            raise CommandError(f"No contact {contact_id}.")
        if interactive:
            answer = input(f"Erase the personal data of contact {contact_id}? This cannot be undone. Type 'yes': ")
            if answer.strip().lower() != "yes":
                raise CommandError("Not erased.")
        counts = privacy.contact_erase(contact=contact, by=None)
        self.stdout.write(json.dumps({"erased": contact_id, **counts}))
