"""`manage.py audit_export [--since ISO] [--until ISO] [--output FILE]`: the audit log as JSON lines
(the services' audit log and the Django admin's changes, in time order). The export is audited."""

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.timezone import get_current_timezone, is_naive, make_aware

from accounts import selectors, services
from accounts.api import json_lines


def _moment(text: str | None):
    if not text:
        return None
    moment = parse_datetime(text)
    if moment is None and (day := parse_date(text)) is not None:
        moment = parse_datetime(f"{day.isoformat()}T00:00:00")
    if moment is None:
        raise CommandError(f"Not a date or time: {text!r} (use ISO 8601, e.g. 2026-12-01 or 2026-12-01T08:00:00Z).")
    return make_aware(moment, get_current_timezone()) if is_naive(moment) else moment


class Command(BaseCommand):
    help = "Export the audit log as JSON lines (one action per line, in time order)."

    def add_arguments(self, parser):
        parser.add_argument("--since", help="From this date or time on (ISO 8601).")
        parser.add_argument("--until", help="Before this date or time (ISO 8601).")
        parser.add_argument("--output", help="A file to write (default: standard output).")

    def handle(self, *args, since, until, output, **options):
        since, until = _moment(since), _moment(until)
        services.audit_exported(by=None, since=since, until=until, via="manage.py")
        lines = json_lines(selectors.audit_lines(since=since, until=until))
        count = 0
        if output:
            with open(output, "w", encoding="utf-8") as target:
                for line in lines:
                    target.write(line)
                    count += 1
        else:
            for line in lines:
                self.stdout.write(line, ending="")
                count += 1
        self.stderr.write(f"{count} audit lines.")
