"""Peak memory of scoring one large landing file: the predictions asset's path, in a child process.

The parent writes a JSONL landing file of ``--megabytes`` (iris-like items, 1 % invalid) into a
local ODF storage and publishes the model; each child then runs what ``iris_predictions`` does —
read and validate the landed records, score them with ONNX (in chunks on the staged path), build and
write the predictions and rejects Parquet, run the coverage check's anti-join — and reports its own peak
RSS (``VmHWM``). Side by side: ODF's staged path (``scoring.score_day``) and the same steps with
the whole file and every frame in memory.

    uv run python -m bench.landing_memory [--megabytes 200]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from bench.conditions import describe, emit, interleaved, median

DAY = "2024-05-01"
KEY = f"landing/iris/date={DAY}/big.jsonl"
TARGET_PEAK_MB = 300
MODES = ("streamed", "whole_file")


def write_landing_file(path: Path, megabytes: float) -> int:
    """Iris-like JSONL items until the file reaches ``megabytes``; every 100th record is invalid."""
    import numpy as np

    rng = np.random.default_rng(0)
    target, written, count = int(megabytes * 1_000_000), 0, 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        while written < target:
            rows = rng.normal([5.8, 3.0, 3.8, 1.2], 0.4, (50_000, 4)).round(2)
            lines = []
            for values in rows:
                count += 1
                sepal = '"n/a"' if count % 100 == 0 else values[0]
                lines.append(
                    f'{{"id": "item-{count:09d}", "sepal_length": {sepal}, "sepal_width": {values[1]}, '
                    f'"petal_length": {values[2]}, "petal_width": {values[3]}}}\n'
                )
            block = "".join(lines)
            handle.write(block)
            written += len(block)
    return count


def publish_model(base: str) -> None:
    from odf_assets.predictions import store
    from odf_assets.predictions.model import iris_holdout, model_card, to_onnx_bytes, train_iris_classifier
    from odf_resources.storage import LocalStorage

    holdout = iris_holdout()
    onnx_bytes = to_onnx_bytes(train_iris_classifier(holdout))
    store.publish_model(LocalStorage(base), onnx_bytes, model_card(onnx_bytes, source="bench", holdout=holdout))


def child(base: str, mode: str) -> dict:
    """The predictions asset's steps without Dagster; reports its own peak memory."""
    from bench.memory import peak_rss_mb
    from odf_assets.predictions import landing_records, scoring, store, transforms
    from odf_assets.predictions.model import predict_probabilities
    from odf_resources import settings
    from odf_resources.parquet_io_manager import write_parquet
    from odf_resources.storage import LocalStorage

    storage = LocalStorage(base)
    imported = peak_rss_mb()
    started = time.perf_counter()
    model = store.load_current_model(storage)
    with tempfile.TemporaryDirectory(dir=storage.staging_dir()) as workdir:
        if mode == "streamed":  # what iris_predictions runs
            scored = scoring.score_day(
                storage, DAY, Path(workdir), model, datetime.now(UTC), settings.landing_max_file_bytes()
            )
            predictions, rejects, landed_keys = scored.predictions, scored.rejects, scored.landed_keys
        else:  # the same parser and validation, everything in memory
            card, session, sig = model
            (entry,) = store.landing_entries(storage, DAY)
            landed = landing_records.parse_landing_file(entry, storage.read_bytes(entry.key))
            valid, rejected = transforms.validate(landed)
            probabilities = predict_probabilities(session, sig, transforms.feature_matrix(valid))
            predictions = transforms.prediction_frame(
                valid,
                probabilities,
                day=date.fromisoformat(DAY),
                model_version=card["model_version"],
                model_checksum=card["sha256"],
                predicted_at=datetime.now(UTC),
            ).lazy()
            rejects, landed_keys = (
                transforms.reject_frame(rejected, date.fromisoformat(DAY)).lazy(),
                transforms.key_hashes(landed),
            )
        # What the IO manager does with each output, then the coverage check's anti-join.
        write_parquet(predictions, Path(f"{workdir}/predictions.parquet"))
        write_parquet(rejects, Path(f"{workdir}/rejects.parquet"))
        stored = [
            pl.scan_parquet(f"{workdir}/{name}.parquet").select(list(transforms.SOURCE_COLUMNS))
            for name in ("predictions", "rejects")
        ]
        unaccounted = transforms.unaccounted_count(landed_keys, *stored)
        counts = [len(landed_keys), *(frame.select(pl.len()).collect().item() for frame in stored)]
    return {
        "mode": mode,
        "records": counts[0],
        "predicted": counts[1],
        "rejected": counts[2],
        "unaccounted": unaccounted,
        "total_s": round(time.perf_counter() - started, 1),
        "import_rss_mb": round(imported),
        "peak_rss_mb": round(peak_rss_mb()),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=200)
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds of both paths (medians)")
    parser.add_argument("--quick", action="store_true", help="1 MB, one round (the CI smoke run)")
    parser.add_argument("--child", nargs=2, metavar=("BASE", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child)))
        return {}
    if args.quick:
        args.megabytes, args.repeat = 1, 1
    conditions = describe()
    with tempfile.TemporaryDirectory(prefix="odf-bench-landing-", dir=os.environ.get("ODF_BENCH_TMP")) as tmp:
        base = str(Path(tmp) / "storage")
        records = write_landing_file(Path(base) / KEY, args.megabytes)
        size_mb = (Path(base) / KEY).stat().st_size / 1e6
        publish_model(base)
        print(f"landing file: {size_mb:.0f} MB, {records:,} records", flush=True)

        def run(mode: str) -> dict:
            done = subprocess.run(
                [sys.executable, "-m", "bench.landing_memory", "--child", base, mode],
                capture_output=True,
                text=True,
                check=True,
            )
            return json.loads(done.stdout.strip().splitlines()[-1])

        samples = interleaved(MODES, args.repeat, run)
    runs = {}
    for mode, results in samples.items():
        if any(result["unaccounted"] or result["records"] != records for result in results):
            raise SystemExit(f"{mode}: records unaccounted for: {results}")
        runs[mode] = {
            **results[0],
            **{key: median([r[key] for r in results]) for key in ("peak_rss_mb", "import_rss_mb", "total_s")},
        }
        run = runs[mode]
        print(
            f"  {mode:<11} peak RSS {run['peak_rss_mb']:>5.0f} MB (after imports {run['import_rss_mb']:.0f} MB), "
            f"{run['total_s']:.2f} s, {run['predicted']:,} predicted, {run['rejected']:,} rejected, "
            f"{run['unaccounted']} unaccounted; median of {args.repeat}",
            flush=True,
        )
    peak = runs["streamed"]["peak_rss_mb"]
    verdict = "met" if peak <= TARGET_PEAK_MB else "NOT met"
    print(
        f"streamed peak {peak} MB vs target ≤ {TARGET_PEAK_MB} MB for {size_mb:.0f} MB: {verdict}; "
        f"whole-file read {runs['whole_file']['peak_rss_mb'] / peak:.1f}× the streamed peak"
    )
    summary = {"size_mb": size_mb, "records": records, "runs": runs}
    emit({"bench": "landing_memory", **conditions, "repeat": args.repeat, **summary})
    return summary


if __name__ == "__main__":
    main()
