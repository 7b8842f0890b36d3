"""Training the satisfaction model on a workspace's answers, with its honest evaluation (no ORM).

scikit-learn fits; what comes out is plain JSON (`Outcome.parameters`) that
feedback/satisfaction.py evaluates without scikit-learn. docs/adr/0007-satisfaction-model.md.

The answers are taken oldest first and split by time, never at random:

    | fit (oldest 64 %) | calibration (next 16 %) | hold-out (newest 20 %) |

- *fit*: an L2 logistic regression for CSAT ≥ 4 on standardised numeric features and one-hot
  categories (channel, inbox, team: values with fewer than CATEGORY_MIN answers share "other"),
  and a ridge regression for the score itself on the same design;
- *calibration*: Platt scaling of the regression's logit (σ(a·z + b)), learnt on answers newer
  than those it was fitted on, so a drift in the share of satisfied customers is corrected;
- *hold-out*: the newest answers, never seen before; the model is evaluated there against the
  baseline that always predicts the average of the older answers, and promoted only if it beats it.

The model evaluated is the model used: it is not refitted on the hold-out afterwards.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from . import satisfaction

HOLDOUT_SHARE = 0.2
CALIBRATION_SHARE = 0.2  # of the answers before the hold-out
CATEGORY_MIN = 20  # answers a category value needs to get a coefficient of its own
CATEGORY_MAX = 50  # values per category, the most frequent
REGULARISATION_C = 0.05  # strong for a few hundred answers; its weight fades as answers grow (summed loss)
RIDGE_ALPHA = 1.0
CALIBRATION_MIN = 100  # fewer answers than this cannot teach a calibration: σ(z) is kept as it is


@dataclass
class TrainingSet:
    """Answered conversations, oldest answer first: numeric features, categories, CSAT scores."""

    features: np.ndarray  # n × len(FEATURES), float
    categories: dict[str, np.ndarray]  # name → n values (str), satisfaction.category_value() applied
    scores: np.ndarray  # n CSAT scores 1–5

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def rows(self, part: slice) -> TrainingSet:
        return TrainingSet(self.features[part], {k: v[part] for k, v in self.categories.items()}, self.scores[part])


@dataclass
class Outcome:
    status: str  # promoted | rejected | declined
    reason: str
    answers: int
    parameters: dict = field(default_factory=dict)
    evaluation: dict = field(default_factory=dict)
    seconds: float = 0.0


def _vocabulary(values: np.ndarray) -> list[str]:
    names, counts = np.unique(values, return_counts=True)
    ranked = sorted(
        ((int(c), str(n)) for n, c in zip(names, counts, strict=True) if c >= CATEGORY_MIN and n != satisfaction.OTHER),
        reverse=True,
    )
    return sorted(name for _, name in ranked[:CATEGORY_MAX])


@dataclass
class Design:
    """How rows become the regression's columns: standardised numbers, then one-hot categories."""

    means: np.ndarray
    scales: np.ndarray
    vocabularies: dict[str, list[str]]

    @classmethod
    def learn(cls, rows: TrainingSet) -> Design:
        means = rows.features.mean(axis=0)
        scales = rows.features.std(axis=0)
        scales[scales < 1e-9] = 1.0
        return cls(means, scales, {name: _vocabulary(rows.categories[name]) for name in satisfaction.CATEGORIES})

    def columns(self) -> list[tuple[str, str]]:
        return [(name, value) for name in satisfaction.CATEGORIES for value in [*self.vocabularies[name],
                                                                                 satisfaction.OTHER]]  # fmt: skip

    def matrix(self, rows: TrainingSet):
        from scipy import sparse

        numeric = sparse.csr_matrix((rows.features - self.means) / self.scales)
        n = len(rows)
        blocks = [numeric]
        for name in satisfaction.CATEGORIES:
            vocabulary = self.vocabularies[name]
            index = {value: i for i, value in enumerate(vocabulary)}
            other = len(vocabulary)
            column = np.fromiter((index.get(v, other) for v in rows.categories[name]), dtype=np.int64, count=n)
            blocks.append(sparse.csr_matrix((np.ones(n), (np.arange(n), column)), shape=(n, other + 1)))
        return sparse.hstack(blocks, format="csr")


def _split(n: int) -> tuple[slice, slice, slice]:
    holdout = max(1, round(n * HOLDOUT_SHARE))
    before = n - holdout
    calibration = max(1, round(before * CALIBRATION_SHARE))
    return slice(0, before - calibration), slice(before - calibration, before), slice(before, n)


def _platt(logits: np.ndarray, outcomes: np.ndarray) -> tuple[float, float]:
    """σ(a·z + b) fitted on newer answers; the identity when they cannot teach it (too few, one class)."""
    from sklearn.linear_model import LogisticRegression

    if len(outcomes) < CALIBRATION_MIN or outcomes.min() == outcomes.max():
        return 1.0, 0.0
    fitted = LogisticRegression(C=10.0).fit(logits.reshape(-1, 1), outcomes)
    a, b = float(fitted.coef_[0][0]), float(fitted.intercept_[0])
    return (a, b) if a > 0 else (1.0, 0.0)


def decline(answers: int, reason: str) -> Outcome:
    return Outcome(status="declined", reason=reason, answers=answers)


def train(rows: TrainingSet, *, min_answers: int = satisfaction.MIN_ANSWERS) -> Outcome:
    """Fit, calibrate and evaluate on a time-based hold-out; promoted only when it beats the baseline."""
    from sklearn.linear_model import LogisticRegression, Ridge

    started = time.perf_counter()
    n = len(rows)
    if n < min_answers:
        return decline(
            n,
            f"Only {n} answered conversations to learn from; the model needs at least {min_answers}. "
            "Until then cxhub shows the answered figures only.",
        )
    satisfied = (rows.scores >= 4).astype(np.int64)
    fit_part, calibration_part, holdout_part = _split(n)
    if satisfied[fit_part].min() == satisfied[fit_part].max():
        return decline(
            n,
            "Every answer used for training gives the same verdict (all satisfied or all unsatisfied): "
            "there is nothing to learn what makes the difference from.",
        )
    fit_rows = rows.rows(fit_part)
    design = Design.learn(fit_rows)
    x_fit = design.matrix(fit_rows)
    classifier = LogisticRegression(C=REGULARISATION_C, max_iter=500, tol=1e-6).fit(x_fit, satisfied[fit_part])
    regression = Ridge(alpha=RIDGE_ALPHA).fit(x_fit, rows.scores[fit_part].astype(np.float64))

    calibration_rows = rows.rows(calibration_part)
    a, b = _platt(classifier.decision_function(design.matrix(calibration_rows)), satisfied[calibration_part])

    coefficients = classifier.coef_[0]
    numeric = len(satisfaction.FEATURES)
    columns = design.columns()
    categories: dict[str, dict[str, float]] = {name: {} for name in satisfaction.CATEGORIES}
    expected_categories: dict[str, dict[str, float]] = {name: {} for name in satisfaction.CATEGORIES}
    for offset, (name, value) in enumerate(columns):
        categories[name][value] = float(coefficients[numeric + offset])
        expected_categories[name][value] = float(regression.coef_[numeric + offset])
    # The average category coefficient over the training mix: a conversation's category "weighs" its
    # difference from that (so the usual channel is not named as a reason).
    column_means = np.asarray(x_fit[:, numeric:].mean(axis=0)).ravel()
    category_means = {name: 0.0 for name in satisfaction.CATEGORIES}
    for offset, (name, _) in enumerate(columns):
        category_means[name] += float(coefficients[numeric + offset] * column_means[offset])
    parameters = {
        "kind": "logistic_regression",
        "feature_version": satisfaction.FEATURE_VERSION,
        "features": list(satisfaction.FEATURE_NAMES),
        "means": [float(v) for v in design.means],
        "scales": [float(v) for v in design.scales],
        "coefficients": [float(v) for v in coefficients[:numeric]],
        "intercept": float(classifier.intercept_[0]),
        "categories": categories,
        "category_means": category_means,
        "calibration": {"a": a, "b": b},
        "expected": {
            "intercept": float(regression.intercept_),
            "coefficients": [float(v) for v in regression.coef_[:numeric]],
            "categories": expected_categories,
        },
        "training": {
            "fit_answers": len(fit_rows),
            "calibration_answers": len(calibration_rows),
            "regularisation_c": REGULARISATION_C,
            "ridge_alpha": RIDGE_ALPHA,
            "category_min_answers": CATEGORY_MIN,
        },
    }

    holdout_rows = rows.rows(holdout_part)
    x_holdout = design.matrix(holdout_rows)
    logits = classifier.decision_function(x_holdout)
    probabilities = 1.0 / (1.0 + np.exp(-(a * logits + b)))
    expected = np.clip(regression.predict(x_holdout), 1.0, 5.0)
    before = slice(0, holdout_part.start)
    evaluation = satisfaction.evaluate(
        probabilities=probabilities.tolist(),
        expected=expected.tolist(),
        scores=[int(s) for s in holdout_rows.scores],
        baseline_probability=float(satisfied[before].mean()),
        baseline_score=float(rows.scores[before].mean()),
    )
    evaluation["answers"] = {"fit": len(fit_rows), "calibration": len(calibration_rows), "holdout": len(holdout_rows)}
    status = "promoted" if evaluation["beats_baseline"] else "rejected"
    return Outcome(
        status=status,
        reason=evaluation["verdict"],
        answers=n,
        parameters=parameters,
        evaluation=evaluation,
        seconds=time.perf_counter() - started,
    )
