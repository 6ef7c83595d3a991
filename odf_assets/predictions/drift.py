"""Prediction drift, pure: does one day's scored batch still look like the model's training data?

Two measures, each with a WARN and a higher ERROR limit (``odf_resources.settings.drift_thresholds``):

* the population stability index (PSI) of the predicted classes against the training labels'
  shares: sum over classes of (observed - expected) * ln(observed / expected), with empty classes
  floored at ``EPSILON`` so one missing class gives a large, finite number;
* per feature, the fraction of values outside the training range, widened on each side by
  ``range_margin`` times the range's width (a value just past the extremes is not drift).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from odf_assets.predictions.transforms import CLASS_LABELS, FEATURES

if TYPE_CHECKING:  # polars is imported where used: the code location loads without it
    import polars as pl

EPSILON = 1e-4
OK, WARN, ERROR = "ok", "warn", "error"


@dataclass(frozen=True)
class TrainingProfile:
    """What the model was trained on: each class's share and each feature's [min, max]."""

    class_shares: dict[str, float]
    ranges: dict[str, tuple[float, float]]
    rows: int


@dataclass(frozen=True)
class DriftReport:
    level: str
    class_psi: float | None
    observed_shares: dict[str, float]
    outside_fraction: dict[str, float]
    rows: int
    # One line per limit exceeded, naming the measure, its value and the limit.
    reasons: list[str] = field(default_factory=list)

    def metadata(self, profile: TrainingProfile, thresholds: Mapping[str, float]) -> dict:
        return {
            "rows": self.rows,
            "class_psi": None if self.class_psi is None else round(self.class_psi, 6),
            "observed_class_shares": {k: round(v, 6) for k, v in self.observed_shares.items()},
            "training_class_shares": {k: round(v, 6) for k, v in profile.class_shares.items()},
            "outside_training_range_fraction": {k: round(v, 6) for k, v in self.outside_fraction.items()},
            "training_ranges": {k: [round(lo, 6), round(hi, 6)] for k, (lo, hi) in profile.ranges.items()},
            "thresholds": dict(thresholds),
            "reasons": self.reasons,
        }


def training_profile(features: Sequence[Sequence[float]], labels: Sequence[int]) -> TrainingProfile:
    """From the training matrix (rows of ``FEATURES``) and label indexes into ``CLASS_LABELS``."""
    import polars as pl

    frame = pl.DataFrame([list(row) for row in features], schema=list(FEATURES), orient="row")
    counts = {label: 0 for label in CLASS_LABELS}
    for index in labels:
        counts[CLASS_LABELS[int(index)]] += 1
    total = sum(counts.values())
    ranges = {name: (float(frame[name].min()), float(frame[name].max())) for name in FEATURES}
    return TrainingProfile({label: n / total for label, n in counts.items()}, ranges, total)


def population_stability_index(expected: Mapping[str, float], observed: Mapping[str, float]) -> float:
    total = 0.0
    for label, share in expected.items():
        e, o = max(share, EPSILON), max(observed.get(label, 0.0), EPSILON)
        total += (o - e) * math.log(o / e)
    return total


def outside_fractions(
    frame: pl.DataFrame, ranges: Mapping[str, tuple[float, float]], margin: float
) -> dict[str, float]:
    """Per feature, the share of non-null values outside the widened training range."""
    import polars as pl

    if frame.is_empty():
        return {name: 0.0 for name in ranges}
    checks = []
    for name, (low, high) in ranges.items():
        pad = (high - low) * margin
        value = pl.col(name).cast(pl.Float64)
        checks.append(((value < low - pad) | (value > high + pad)).mean().fill_null(0.0).alias(name))
    row = frame.select(checks).row(0, named=True)
    return {name: float(row[name]) for name in ranges}


def assess(predictions: pl.DataFrame, profile: TrainingProfile, thresholds: Mapping[str, float]) -> DriftReport:
    """The day's drift level from its predictions (``predicted_label`` plus the feature columns)."""
    rows = predictions.height
    if rows == 0:
        return DriftReport(OK, None, {}, {name: 0.0 for name in FEATURES}, 0, ["no predictions for this day"])
    counts = dict(predictions["predicted_label"].value_counts().iter_rows())
    observed = {label: counts.get(label, 0) / rows for label in CLASS_LABELS}
    psi = population_stability_index(profile.class_shares, observed)
    outside = outside_fractions(predictions, profile.ranges, thresholds["range_margin"])
    level, reasons = OK, []

    def exceed(value: float, kind: str, what: str) -> None:
        nonlocal level
        for severity, limit in ((ERROR, thresholds[f"{kind}_error"]), (WARN, thresholds[f"{kind}_warn"])):
            if value > limit:
                reasons.append(f"{what} {value:.4f} > {severity.upper()} limit {limit}")
                level = ERROR if ERROR in (level, severity) else WARN
                return

    exceed(psi, "psi", "class PSI")
    for name, fraction in outside.items():
        exceed(fraction, "range", f"{name} outside training range")
    return DriftReport(level, psi, observed, outside, rows, reasons)
