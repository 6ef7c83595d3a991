"""Batched ONNX scoring vs the old service's design, same model and same rows, in one process.

Old design: one ``session.run`` per item on a ``ThreadPoolExecutor(4)``. New design: one run per
partition (``predict_probabilities``, chunks of a million rows). Also timed: the full in-memory
path of the predictions asset (validate, to numpy, score, build the output frame).

    uv run python -m bench.predictions [--rows 200000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime

import numpy as np
import polars as pl

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


def make_rows(count: int, seed: int = 0) -> np.ndarray:
    """Iris-like items: real iris rows resampled with a little noise, float32 like the model input."""
    from sklearn.datasets import load_iris

    rng = np.random.default_rng(seed)
    base = load_iris().data
    rows = base[rng.integers(0, len(base), count)] + rng.normal(0, 0.1, (count, 4))
    return np.ascontiguousarray(rows.astype(np.float32))


def per_item(session, sig, rows: np.ndarray) -> tuple[float, np.ndarray]:
    def one(row: np.ndarray) -> np.ndarray:
        return session.run([sig.probability_output], {sig.input_name: row.reshape(1, -1)})[0][0]

    start = time.perf_counter()
    with ThreadPoolExecutor(OLD_DESIGN_THREADS) as pool:
        results = list(pool.map(one, rows))
    return time.perf_counter() - start, np.stack(results)


def timed(repeats: int, fn) -> tuple[float, object]:
    """Median wall time over ``repeats`` calls (after one warm-up) and the last result."""
    result = fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


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
    return pl.DataFrame(columns, schema=transforms.LANDED_SCHEMA)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="items scored by both designs (default 200000)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats of the batched paths (median reported)")
    args = parser.parse_args(argv)

    onnx_bytes = to_onnx_bytes(train_iris_classifier(iris_holdout()))
    session, sig = session_for(onnx_bytes, sha256(onnx_bytes))
    rows = make_rows(args.rows)
    print(
        f"model sha256 {sha256(onnx_bytes)[:12]}, {args.rows:,} rows, {os.cpu_count()} CPUs, "
        "onnxruntime threads: default"
    )

    old_seconds, old_result = per_item(session, sig, rows)
    new_seconds, new_result = timed(args.repeats, lambda: predict_probabilities(session, sig, rows))
    frame = landed_frame(rows)
    path_seconds, _ = timed(args.repeats, lambda: asset_path(session, sig, frame))
    max_diff = float(np.abs(old_result - new_result).max())

    old_rate, new_rate, path_rate = args.rows / old_seconds, args.rows / new_seconds, args.rows / path_seconds
    print(f"per-item, ThreadPoolExecutor({OLD_DESIGN_THREADS}):  {old_rate:>14,.0f} rows/s  ({old_seconds:.3f} s)")
    print(
        f"batched, one run:                  {new_rate:>14,.0f} rows/s  ({new_seconds:.4f} s, median of {args.repeats})"
    )
    print(f"batched asset path (validate+score+frame): {path_rate:>10,.0f} rows/s  ({path_seconds:.4f} s)")
    print(f"ratio batched / per-item:          {new_rate / old_rate:>14,.1f}x   (max |Δprobability| {max_diff:.2e})")
    ratio_ok, rate_ok = new_rate / old_rate >= TARGET_RATIO, new_rate >= TARGET_ROWS_PER_SECOND
    print(
        f"target ≥ {TARGET_RATIO}x: {'met' if ratio_ok else 'NOT met'}; "
        f"target ≥ {TARGET_ROWS_PER_SECOND:,} rows/s: {'met' if rate_ok else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
