"""manage.py recompute_metrics --from YYYY-MM-DD --to YYYY-MM-DD: rebuild facts and rollups from raw rows."""

from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from feedback import metrics, pipeline, predictions


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"not a date (YYYY-MM-DD): {value!r}") from None


class Command(BaseCommand):
    help = (
        "Rebuild ConversationFacts, MetricRollup and the satisfaction cells for the days given "
        "(workspace time zone, inclusive) "
        "from conversations, messages, survey rows and the event log; print the cells that differed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="day_from", type=_date, help="First day (default: 30 days ago).")
        parser.add_argument("--to", dest="day_to", type=_date, help="Last day (default: today).")
        parser.add_argument(
            "--check", action="store_true", help="Only compare; change nothing (exit 1 on a difference)."
        )

    def handle(self, *args, day_from=None, day_to=None, check=False, **options):
        today = metrics.local_day(timezone.now(), pipeline.workspace_tz())
        day_to = day_to or today
        day_from = day_from or day_to - timedelta(days=29)
        if day_from > day_to:
            raise CommandError("--from is after --to")
        report = pipeline.recompute(day_from=day_from, day_to=day_to, write=not check)
        # The predicted satisfaction's cells have their own table and recompute (feedback/predictions.py).
        satisfaction = predictions.recompute(day_from=day_from, day_to=day_to, write=not check)
        differences = report.differences + satisfaction.differences
        for key, stored, expected in differences:
            self.stdout.write(f"differs {key}: stored {stored}, recomputed {expected}")
        verb = "checked" if check else "recomputed"
        self.stdout.write(
            f"{verb} {day_from}..{day_to}: {report.conversations} conversations, "
            f"{len(report.differences)} differing cells; satisfaction: {satisfaction.conversations} "
            f"resolved conversations, {len(satisfaction.differences)} differing cells"
        )
        if check and differences:
            raise CommandError("rollups differ from the recomputation")
