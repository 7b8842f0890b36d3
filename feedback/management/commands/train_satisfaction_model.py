"""manage.py train_satisfaction_model: train, evaluate and (if it beats the baseline) promote now."""

from django.core.management.base import BaseCommand

from feedback import predictions


class Command(BaseCommand):
    help = (
        "Train the satisfaction model on the answered conversations now (as the nightly run does), "
        "evaluate it on the newest answers, promote it only if it beats the average-only baseline, "
        "then score every conversation again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--min-answers", type=int, help="Fewer answered conversations than this: decline.")

    def handle(self, *args, min_answers=None, **options):
        run = predictions.model_train(trigger="command", minimum=min_answers)
        self.stdout.write(describe(run))


def describe(run) -> str:
    """One paragraph: what the run did and why, with its evaluation beside the baseline."""
    lines = [f"satisfaction model v{run.pk}: {run.status} ({run.answers} answered conversations)"]
    if run.reason:
        lines.append(f"  {run.reason}")
    evaluation = run.evaluation or {}
    if evaluation.get("holdout_answers"):
        base = evaluation["baseline"]
        csat, base_csat = evaluation["holdout_csat"], base["holdout_csat"]
        auc = evaluation["auc"]
        lines.append(
            f"  hold-out of the {evaluation['holdout_answers']} newest answers: "
            f"AUC {auc:.3f} (baseline 0.500), Brier {evaluation['brier']:.4f} (baseline {base['brier']:.4f}), "
            f"calibration error {evaluation['calibration_error']:.3f} (baseline {base['calibration_error']:.3f})"
            if auc is not None
            else f"  hold-out of the {evaluation['holdout_answers']} newest answers: one class only"
        )
        lines.append(
            f"  CSAT % on the hold-out: predicted {csat['predicted_percent']:.1f}, actual {csat['actual_percent']:.1f} "
            f"(error {csat['error_pp']:+.1f} ± {csat['error_se_pp']:.1f} pp; baseline {base_csat['error_pp']:+.1f} pp)"
        )
    in_force = predictions.active_model()
    lines.append(f"  in force: {'this model' if run.is_active else f'v{in_force.version}' if in_force else 'none'}")
    return "\n".join(lines)
