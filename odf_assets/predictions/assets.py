"""Dagster wiring of the iris predictions; the logic lives in ``transforms``, ``scoring``, ``model`` and ``store``."""

import json
import re
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import dagster as dg

from odf_assets.derived import storage_retry_policy
from odf_assets.predictions import transforms
from odf_core.text import quote
from odf_resources import settings as odf_settings
from odf_resources.constants import AGGREGATION_TAGS, IO_MANAGER_KEY, PARTITION_COLUMN
from odf_resources.storage import is_storage_failure
from odf_resources.storage_resource import OdfStorage

# Annotations naming polars are quoted: without ``from __future__ import annotations`` here, Dagster
# reads the asset functions' context and config annotations as the classes they name.
if TYPE_CHECKING:  # polars is imported where used: the code location loads without it
    import polars as pl

    from odf_assets.predictions.scoring import ScoredDay

GROUP = "predictions"
IRIS_MODEL = dg.AssetKey(["predictions", "iris_model"])
IRIS_PREDICTIONS = dg.AssetKey(list(transforms.PREDICTIONS_PATH))
IRIS_REJECTS = dg.AssetKey(list(transforms.REJECTS_PATH))
EVERY_LANDED_ITEM_ACCOUNTED_FOR = "every_landed_item_accounted_for"
IRIS_PREDICTIONS_JOB = "iris_predictions_job"
# end_offset=1: today's partition exists today, so items landed this morning are scored this morning.
FIRST_DATE = transforms.FIRST_DATE
iris_daily_partitions = dg.DailyPartitionsDefinition(start_date=FIRST_DATE, end_offset=1)


def publish_iris_model(storage, uri: str) -> tuple[dict, str]:
    """Trains the classifier (or reads the operator's model from ``uri``), checks it and publishes it;
    returns (model card, stored URI). Problems the operator can fix are a ``dg.Failure`` with metadata.
    ``uri`` comes from settings only: a model location is never run config a UI user could set."""
    # Scoring, storing and the model's checks load when a run uses them, not with the code location.
    from odf_assets.predictions import store
    from odf_assets.predictions.model import (
        ModelSignatureError,
        check_pin,
        check_publishable,
        iris_holdout,
        model_card,
        read_model_uri,
        refuse_external_data,
        sha256,
        to_onnx_bytes,
        train_iris_classifier,
    )

    holdout = iris_holdout()
    try:
        if uri:
            onnx_bytes = read_model_uri(uri, odf_settings.model_external_data_allowed())
            source = f"external:{uri}"
        else:
            onnx_bytes, source = (
                to_onnx_bytes(train_iris_classifier(holdout)),
                "trained:StandardScaler+LogisticRegression",
            )
        check_pin(sha256(onnx_bytes), odf_settings.pinned_model_sha256())  # before the model is ever run
        refuse_external_data(onnx_bytes)
        card = model_card(onnx_bytes, source=source, holdout=holdout)
        check_publishable(card, odf_settings.model_min_accuracy(), odf_settings.pinned_model_sha256())
    except (OSError, ValueError, ModelSignatureError) as error:
        raise dg.Failure(
            description=f"iris model from {uri or 'training'}: {error}",
            metadata={
                "model_uri": uri or "(training)",
                "error": type(error).__name__,
                "fix": "set ODF_IRIS_MODEL_URI to a readable, accurate, self-contained ONNX file (and "
                "ODF_IRIS_MODEL_SHA256 to its checksum when pinned), or unset it to train",
            },
            allow_retries=is_storage_failure(error),  # the same model fails the same way again
        ) from None
    onnx_key = store.publish_model(storage, onnx_bytes, card)
    return card, storage.uri_for(onnx_key)


def model_metadata(card: dict, uri: str) -> dict:
    flat = {name: value for name, value in card.items() if not isinstance(value, (list, dict))}
    return {
        **flat,
        "uri": dg.MetadataValue.path(uri),
        "input_shape": json.dumps(card["input_shape"]),
        "output_names": ", ".join(card["output_names"]),
        "class_labels": ", ".join(card["class_labels"]),
        "libraries": dg.MetadataValue.json(card["libraries"]),
        "model_card": dg.MetadataValue.json(card),
    }


@dg.asset(key=IRIS_MODEL, group_name=GROUP, kinds={"scikitlearn", "onnx"}, retry_policy=storage_retry_policy())
def iris_model(context: dg.AssetExecutionContext, odf_storage: OdfStorage) -> dg.MaterializeResult:
    """The iris classifier as ONNX in ODF storage, trained here or supplied by an operator (``ODF_IRIS_MODEL_URI``),
    with its model card. The first predictions run publishes it too when none is published yet."""
    uri = odf_settings.external_model_uri()
    card, stored = publish_iris_model(odf_storage.get(), uri)
    context.log.info(f"published iris model {card['model_version']} ({card['source']}) to {stored}")
    return dg.MaterializeResult(metadata=model_metadata(card, stored), data_version=dg.DataVersion(card["sha256"]))


def current_or_bootstrapped_model(context: dg.AssetExecutionContext, storage):
    """(card, session, signature) of the published model; with none published yet, publishes one first
    (trained, or ``ODF_IRIS_MODEL_URI``) and records it as a materialization of ``predictions/iris_model``."""
    from odf_assets.predictions import store

    pinned = odf_settings.pinned_model_sha256()
    try:
        return store.load_current_model(storage, pinned)
    except store.ModelNotPublishedError:
        context.log.info(
            "no iris model published yet: this first predictions run publishes it (see docs/predictions.md)"
        )
        card, stored = publish_iris_model(storage, odf_settings.external_model_uri())
        context.log_event(
            dg.AssetMaterialization(
                asset_key=IRIS_MODEL,
                description="published by the first predictions run",
                metadata=model_metadata(card, stored),
            )
        )
    except ValueError as error:  # a corrupt or changed model file
        raise dg.Failure(
            description=f"the published iris model cannot be used: {error}",
            metadata={
                "model_card": storage.uri_for(store.MODEL_CARD_KEY),
                "fix": "materialize predictions/iris_model again (the pinned model if ODF_IRIS_MODEL_SHA256 is set)",
            },
            allow_retries=False,
        ) from None
    return store.load_current_model(storage, pinned)


def _reason_summary(rejects: "pl.DataFrame") -> dg.MetadataValue:
    # Reasons embed values, ids and counts: blank those out so like reasons group together.
    counts = Counter(
        re.sub(r"'[^']*'|=\S+|\([^)]*\)|\d+", "…", reason).strip() for reason in rejects["reason"].to_list()
    )
    lines = ["| reason | records |", "| --- | --- |", *(f"| {reason} | {n} |" for reason, n in counts.most_common(10))]
    return dg.MetadataValue.md("\n".join(lines))


def _rows(frame: "pl.LazyFrame") -> int:
    import polars as pl

    return frame.select(pl.len()).collect().item()


def _coverage_check(storage, partition: str, scored: "ScoredDay") -> dg.AssetCheckResult:
    """Reads back what was stored (key columns, scanned) and re-lists the landing folder: every landed
    item must be covered."""
    from odf_assets.predictions import store

    predictions = store.scan_stored_keys(storage, store.PREDICTIONS_PATH, partition)
    rejects = store.scan_stored_keys(storage, store.REJECTS_PATH, partition)
    missing = transforms.unaccounted_count(scored.landed_keys, predictions, rejects)
    now = {(e.key, e.version) for e in store.landing_entries(storage, partition)}
    late = sorted(key for key, _ in now - {(e.key, e.version) for e in scored.entries})
    passed = missing == 0 and not late
    return dg.AssetCheckResult(
        check_name=EVERY_LANDED_ITEM_ACCOUNTED_FOR,
        asset_key=IRIS_PREDICTIONS,
        passed=passed,
        # Late files are expected (the sensor requests another run); lost records are a bug. A result
        # carries the check's declared severity (ERROR) unless it only warns about late files.
        severity=dg.AssetCheckSeverity.WARN if late and not missing else dg.AssetCheckSeverity.ERROR,
        metadata={
            "landed_records": len(scored.landed_keys),
            "predicted": _rows(predictions),
            "rejected": _rows(rejects),
            "unaccounted": missing,
            "files_landed_during_run": dg.MetadataValue.json(late),
        },
    )


def _daily_out(key: dg.AssetKey, description: str) -> dg.AssetOut:
    return dg.AssetOut(
        key=key,
        io_manager_key=IO_MANAGER_KEY,
        metadata={"partition_expr": PARTITION_COLUMN},
        kinds={"onnx", "polars", "parquet"},
        description=description,
    )


@dg.multi_asset(
    outs={
        "predictions": _daily_out(
            IRIS_PREDICTIONS, "Per landed iris item of the day: features, class probabilities, label and model version."
        ),
        "rejects": _daily_out(
            IRIS_REJECTS, "Landed iris records (or whole files) that could not be scored, with the reason."
        ),
    },
    deps=[IRIS_MODEL],
    partitions_def=iris_daily_partitions,
    retry_policy=storage_retry_policy(),
    group_name=GROUP,
    check_specs=[
        dg.AssetCheckSpec(
            EVERY_LANDED_ITEM_ACCOUNTED_FOR,
            asset=IRIS_PREDICTIONS,
            description="Every item landed for the date has a stored prediction or reject, and nothing landed since.",
            partitions_def=iris_daily_partitions,  # one result per day, shown with its partition
        )
    ],
)
def iris_predictions(context: dg.AssetExecutionContext, odf_storage: OdfStorage):
    """Scores every iris item landed for the day in one batched ONNX call; invalid records go to rejects."""
    import polars as pl

    from odf_assets.predictions import scoring

    partition = context.partition_key
    storage = odf_storage.get()
    model = current_or_bootstrapped_model(context, storage)
    card = model[0]
    # Staged files back the lazy outputs: they live until both are stored and the check ran.
    with storage.staging_area(prefix=".tmp-predictions-") as workdir:
        scored = scoring.score_day(
            storage, partition, workdir, model, datetime.now(UTC), odf_settings.landing_max_file_bytes()
        )
        rejects = scored.rejects.select(
            "source_file", "line", "reason"
        ).collect()  # rejects are few; predictions stay lazy
        for row in rejects.filter(pl.col("line") == transforms.FILE_LEVEL_LINE).iter_rows(named=True):
            context.log.warning(f"skipped landing file {quote(row['source_file'])}: {row['reason']}")
        counts = {
            "landed_files": len(scored.entries),
            "landed_records": len(scored.landed_keys),
            "predicted": _rows(scored.predictions),
            "rejected": rejects.height,
            "model_version": card["model_version"],
            "model_checksum": card["sha256"],
        }
        label_counts = (
            scored.predictions.group_by("predicted_label").len().sort("predicted_label").collect().iter_rows()
        )
        yield dg.Output(
            scored.predictions,
            output_name="predictions",
            metadata={**counts, "label_counts": dg.MetadataValue.json(dict(label_counts))},
        )
        yield dg.Output(scored.rejects, output_name="rejects", metadata={**counts, "reasons": _reason_summary(rejects)})
        # Outputs are stored by now, so the check reads what a query would read.
        yield _coverage_check(storage, partition, scored)


iris_predictions_job = dg.define_asset_job(
    IRIS_PREDICTIONS_JOB,
    selection=dg.AssetSelection.assets(IRIS_PREDICTIONS, IRIS_REJECTS),
    description="Score one day's landed iris items (requested by the landing sensor).",
    # Inference is compute, like aggregation: it shares that queue's limit, never acquisition's.
    tags=AGGREGATION_TAGS,
)

PREDICTION_ASSETS = [iris_model, iris_predictions]
