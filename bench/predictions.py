"""Batched ONNX scoring vs the old service's design, same model and same rows, in one process.

Old design: one ``session.run`` per item on a ``ThreadPoolExecutor(4)``. New design: one run per
partition (``predict_probabilities``, chunks of a million rows). Also timed: the full in-memory
path of the predictions asset (validate, to numpy, score, build the output frame). The three run in
interleaved rounds after one warm-up each; medians are printed.

    uv run python -m bench.predictions [--rows 200000] [--repeats 5] [--quick]
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime

import numpy as np
import polars as pl

from bench.conditions import describe, emit, interleaved, median
from odf_assets.predictions import transforms
from odf_assets.predictions.model import (
    iris_holdout,
    predict_probabilities,
    session_for,
    sha256,
    to_onnx_bytes,
    train_iris_classifier,
)

OLD_DESIGN_THREADS = 4
TARGET_RATIO = 50
TARGET_ROWS_PER_SECOND = 1_000_000
PATHS = ("per_item", "batched", "asset_path")


def make_rows(count: int, seed: int = 0) -> np.ndarray:
    """Iris-like items: real iris rows resampled with a little noise, float32 like the model input."""
    from sklearn.datasets import load_iris

    rng = np.random.default_rng(seed)
    base = load_iris().data
    rows = base[rng.integers(0, len(base), count)] + rng.normal(0, 0.1, (count, 4))
    # Lengths are never negative: the predictions' feature domain rejects such items, and every item
    # here must be scored by all three paths.
    rows = np.clip(rows, 0.0, None)
    return np.ascontiguousarray(rows.astype(np.float32))


def per_item(session, sig, rows: np.ndarray) -> tuple[float, np.ndarray]:
    def one(row: np.ndarray) -> np.ndarray:
        return session.run([sig.probability_output], {sig.input_name: row.reshape(1, -1)})[0][0]

    start = time.perf_counter()
    with ThreadPoolExecutor(OLD_DESIGN_THREADS) as pool:
        results = list(pool.map(one, rows))
    return time.perf_counter() - start, np.stack(results)


def asset_path(session, sig, frame: pl.DataFrame) -> pl.DataFrame:
    valid, _ = transforms.validate(frame)
    probabilities = predict_probabilities(session, sig, transforms.feature_matrix(valid))
    return transforms.prediction_frame(
        valid,
        probabilities,
        day=date(2024, 1, 1),
        model_version="bench",
        model_checksum="bench",
        predicted_at=datetime.now(UTC),
    )


def landed_frame(rows: np.ndarray) -> pl.DataFrame:
    n = len(rows)
    columns = {
        "source_file": ["bench.jsonl"] * n,
        "source_version": ["1"] * n,
        "line": np.arange(1, n + 1),
        "id": [f"item-{i}" for i in range(n)],
        **{f: rows[:, i].astype(np.float64) for i, f in enumerate(transforms.FEATURES)},
        "record": [None] * n,
        "problem": [None] * n,
    }
    # LANDED_SCHEMA names its dtypes (the registry's spelling); polars_schema turns them into Polars types.
    return pl.DataFrame(columns, schema=transforms.polars_schema(transforms.LANDED_SCHEMA))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="items scored by both designs (default 200000)")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds of the three paths (median)")
    parser.add_argument("--quick", action="store_true", help="2,000 rows, 3 rounds (the CI smoke run)")
    args = parser.parse_args(argv)
    rows_count, repeats = (2_000, 3) if args.quick else (args.rows, args.repeats)
    conditions = describe()

    onnx_bytes = to_onnx_bytes(train_iris_classifier(iris_holdout()))
    session, sig = session_for(onnx_bytes, sha256(onnx_bytes))
    rows = make_rows(rows_count)
    frame = landed_frame(rows)
    print(
        f"model sha256 {sha256(onnx_bytes)[:12]}, {rows_count:,} rows, {os.cpu_count()} CPUs, "
        "onnxruntime threads: default"
    )
    outputs: dict[str, object] = {}

    def run(name: str) -> float:
        work = {
            "per_item": lambda: per_item(session, sig, rows)[1],
            "batched": lambda: predict_probabilities(session, sig, rows),
            "asset_path": lambda: asset_path(session, sig, frame),
        }[name]
        started = time.perf_counter()
        outputs[name] = work()
        return time.perf_counter() - started

    for name in PATHS:  # warm-up: first-call costs are not what either design pays per partition
        run(name)
    seconds = {name: median(times) for name, times in interleaved(PATHS, repeats, run).items()}
    max_diff = float(np.abs(outputs["per_item"] - outputs["batched"]).max())
    if max_diff > 1e-5:
        raise SystemExit(f"batched and per-item probabilities differ by {max_diff}")
    if outputs["asset_path"].height != rows_count:
        raise SystemExit(f"the asset path scored {outputs['asset_path'].height} of {rows_count} rows")
    rates = {name: rows_count / value for name, value in seconds.items()}
    ratio = rates["batched"] / rates["per_item"]
    print(f"per-item, ThreadPoolExecutor({OLD_DESIGN_THREADS}):  {rates['per_item']:>14,.0f} rows/s")
    print(f"batched, one run:                  {rates['batched']:>14,.0f} rows/s")
    print(f"batched asset path (validate+score+frame): {rates['asset_path']:>10,.0f} rows/s")
    print(
        f"ratio batched / per-item: {ratio:,.1f}x; asset path / per-item: "
        f"{rates['asset_path'] / rates['per_item']:,.1f}x (max |Δprobability| {max_diff:.2e}); "
        f"medians of {repeats} interleaved rounds"
    )
    ratio_ok, rate_ok = ratio >= TARGET_RATIO, rates["batched"] >= TARGET_ROWS_PER_SECOND
    print(
        f"target ≥ {TARGET_RATIO}x: {'met' if ratio_ok else 'NOT met'}; "
        f"target batched ≥ {TARGET_ROWS_PER_SECOND:,} rows/s: {'met' if rate_ok else 'NOT met'}"
    )
    result = {
        "bench": "predictions",
        **conditions,
        "rows": rows_count,
        "repeats": repeats,
        "seconds": seconds,
        "rows_per_second": rates,
        "batched_over_per_item": ratio,
        "asset_path_over_per_item": rates["asset_path"] / rates["per_item"],
        "max_probability_difference": max_diff,
    }
    emit(result)
    return result


if __name__ == "__main__":
    main()
