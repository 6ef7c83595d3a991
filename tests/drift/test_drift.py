"""Prediction drift: the pure measures, the thresholds from the environment, and the per-day check
run by Dagster after real scoring (ONNX model trained here) on local and loopback-S3 storage:
a batch drawn like the training data passes, a shifted batch fails with its numbers as metadata."""

from __future__ import annotations

import dagster as dg
import polars as pl
import pytest

from odf_assets.predictions import drift
from odf_assets.predictions.assets import iris_predictions
from odf_assets.predictions.drift_check import PREDICTION_DRIFT, iris_training_profile, prediction_drift
from odf_assets.predictions.model import iris_holdout
from odf_assets.predictions.transforms import CLASS_LABELS, FEATURES
from odf_resources import settings
from tests.predictions.helpers import jsonl, land, materialize_model, resources_for

DEFAULTS = dict(settings.DRIFT_DEFAULTS)


def holdout_items(prefix: str, transform=lambda row, label: row) -> list[dict]:
    """The held-out iris rows (never trained on) as landing records, optionally transformed."""
    holdout = iris_holdout()
    return [
        {
            "id": f"{prefix}{index}",
            **dict(zip(FEATURES, (round(float(v), 3) for v in transform(list(row), int(label))), strict=True)),
        }
        for index, (row, label) in enumerate(zip(holdout.test_x, holdout.test_y, strict=True))
    ]


def frame(labels: list[str], rows: list[list[float]]) -> pl.DataFrame:
    return pl.DataFrame({"predicted_label": labels, **{f: [r[i] for r in rows] for i, f in enumerate(FEATURES)}})


# -- pure measures -----------------------------------------------------------------------------------


def test_training_profile_is_the_stratified_training_split():
    profile = iris_training_profile()
    assert profile.rows == 105
    assert profile.class_shares == pytest.approx({label: 1 / 3 for label in CLASS_LABELS})
    low, high = profile.ranges["petal_length"]
    assert 1.0 <= low < 1.5 and 6.0 < high < 7.0


def test_psi_is_zero_for_equal_shares_large_for_a_collapsed_class_mix():
    even = {label: 1 / 3 for label in CLASS_LABELS}
    assert drift.population_stability_index(even, even) == 0
    assert drift.population_stability_index(even, {"setosa": 0.3, "versicolor": 0.35, "virginica": 0.35}) < 0.01
    collapsed = drift.population_stability_index(even, {"virginica": 1.0})
    assert 5 < collapsed < 10  # finite: empty classes are floored, not infinite


def test_levels_follow_the_warn_and_error_limits():
    profile = drift.TrainingProfile({label: 1 / 3 for label in CLASS_LABELS}, {f: (0.0, 10.0) for f in FEATURES}, 3)
    inside = [[5.0] * 4]
    balanced = frame(list(CLASS_LABELS) * 10, inside * 30)
    assert drift.assess(balanced, profile, DEFAULTS).level == drift.OK
    # Shares 0.4/0.3/0.3: PSI ≈ 0.019, above a WARN limit of 0.015 and below an ERROR one of 0.2.
    tilted = frame(["setosa"] * 4 + ["versicolor"] * 3 + ["virginica"] * 3, inside * 10)
    report = drift.assess(tilted, profile, {**DEFAULTS, "psi_warn": 0.015, "psi_error": 0.2})
    assert report.level == drift.WARN and report.reasons[0].startswith("class PSI 0.019")
    # 1 in 30 values past the range (+10% margin): above range_warn 0.01, below range_error 0.05.
    wide = frame(list(CLASS_LABELS) * 10, inside * 29 + [[5.0, 5.0, 11.5, 5.0]])
    report = drift.assess(wide, profile, DEFAULTS)
    assert report.level == drift.WARN and report.outside_fraction["petal_length"] == pytest.approx(1 / 30)
    assert (
        drift.assess(frame(list(CLASS_LABELS) * 10, inside * 29 + [[5.0, 5.0, 10.9, 5.0]]), profile, DEFAULTS).level
        == drift.OK
    )
    assert drift.assess(frame([], []), profile, DEFAULTS).level == drift.OK


def test_thresholds_come_from_the_environment_and_are_checked(monkeypatch):
    assert settings.drift_thresholds() == DEFAULTS
    monkeypatch.setenv("ODF_DRIFT_PSI_WARN", "0.2")
    monkeypatch.setenv("ODF_DRIFT_PSI_ERROR", "0.5")
    assert settings.drift_thresholds()["psi_error"] == 0.5
    monkeypatch.setenv("ODF_DRIFT_PSI_ERROR", "0.1")
    with pytest.raises(ValueError, match="ODF_DRIFT_PSI_ERROR must not be below ODF_DRIFT_PSI_WARN"):
        settings.drift_thresholds()
    monkeypatch.setenv("ODF_DRIFT_RANGE_MARGIN", "lots")
    monkeypatch.delenv("ODF_DRIFT_PSI_ERROR")
    with pytest.raises(ValueError, match="ODF_DRIFT_RANGE_MARGIN='lots': expected a number"):
        settings.drift_thresholds()


# -- the check, after real scoring ----------------------------------------------------------------


def score_and_check(storage_uri: str, day: str) -> dg.AssetCheckEvaluation:
    result = dg.materialize(
        [iris_predictions, prediction_drift],
        resources=resources_for(storage_uri),
        partition_key=day,
        raise_on_error=False,
    )
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == PREDICTION_DRIFT]
    return evaluation


def test_a_normal_batch_passes_and_a_shifted_batch_fails_with_its_numbers(storage, storage_uri):
    materialize_model(storage_uri)
    land(storage, "2024-05-01", "normal.jsonl", jsonl(*holdout_items("n")))
    normal = score_and_check(storage_uri, "2024-05-01")
    assert normal.passed, normal.description
    assert (normal.partition, normal.severity) == ("2024-05-01", dg.AssetCheckSeverity.ERROR)
    assert normal.metadata["class_psi"].value < DEFAULTS["psi_warn"]
    assert normal.metadata["rows"].value == 45

    # The sensor breaks: petals read in millimetres, ten times too long, and every flower looks virginica.
    shifted = holdout_items("s", lambda row, label: [row[0], row[1], row[2] * 10, row[3] * 10])
    land(storage, "2024-05-02", "shifted.jsonl", jsonl(*shifted))
    evaluation = score_and_check(storage_uri, "2024-05-02")
    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    metadata = {name: value.value for name, value in evaluation.metadata.items()}
    assert metadata["class_psi"] > DEFAULTS["psi_error"]
    assert metadata["observed_class_shares"]["virginica"] > 0.9
    assert metadata["outside_training_range_fraction"]["petal_length"] > 0.5
    assert metadata["thresholds"] == DEFAULTS
    assert "class PSI" in evaluation.description and "ERROR limit 0.25" in evaluation.description


def test_a_mild_shift_warns_under_configured_limits(storage, storage_uri, monkeypatch):
    materialize_model(storage_uri)
    # Only setosa and versicolor arrive today: PSI ≈ 0.37 (shares 1/2, 1/2, 0 against 1/3 each).
    two_classes = [record for record in holdout_items("m") if record["petal_length"] < 5.0][:30]
    land(storage, "2024-05-03", "two.jsonl", jsonl(*two_classes))
    monkeypatch.setenv("ODF_DRIFT_PSI_WARN", "0.3")
    monkeypatch.setenv("ODF_DRIFT_PSI_ERROR", "100")
    evaluation = score_and_check(storage_uri, "2024-05-03")
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.metadata["class_psi"].value > 0.3
