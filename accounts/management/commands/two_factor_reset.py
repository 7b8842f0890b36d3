"""`manage.py two_factor_reset <username>`: remove a user's authenticator and recovery codes (a lost
phone); they sign in with their password and set up a new one when their role requires it. Audited."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts import services


class Command(BaseCommand):
    help = "Remove a user's two-factor devices (authenticator and recovery codes); audited."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        services.two_factor_reset(user=user, by=None)
        self.stdout.write(f"Two-factor authentication removed for {username}.")
