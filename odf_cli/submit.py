"""``odf submit --date D FILE|-``: land iris items for scoring, as the old ``POST /data`` did.

Records are validated with the predictions' own parser and rules before anything is written, then
land as ONE object under the date's landing folder (local or S3, atomic on both), which the landing
sensor scores. Ids already landed for that date are refused unless ``--replace``: then the earlier
records with those ids are removed from their files first, so a crash in between leaves nothing a
second identical command would not fix. Standard library only at import time (``odf --help``).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath

from odf_cli.main import CommandError, parse_date

FORMATS = ("jsonl", "csv")
# Problems listed before "… and N more".
SHOWN_PROBLEMS = 10


def _read_input(path: str, max_bytes: int) -> bytes:
    """The input, read to at most ``max_bytes`` (the landing zone's per-file limit) plus one byte."""
    try:
        if path == "-":
            data = sys.stdin.buffer.read(max_bytes + 1)
        else:
            with open(path, "rb") as handle:
                data = handle.read(max_bytes + 1)
    except OSError as error:
        raise CommandError(f"cannot read {path!r}: {error.strerror or error}") from None
    if len(data) > max_bytes:
        raise CommandError(
            f"the input is above the per-file limit of {max_bytes} bytes (ODF_LANDING_MAX_FILE_BYTES); "
            "split it, nothing landed"
        )
    return data


# One submission per date at a time: the lock spans the check for landed ids and the write, so the
# same id submitted concurrently lands once. A lock older than this is a crashed submission's.
LOCK_PREFIX = "landing-locks/iris"
LOCK_LEASE_SECONDS = 600
LOCK_WAIT_SECONDS = 60.0


@contextlib.contextmanager
def _date_lock(storage, day: str):
    key = f"{LOCK_PREFIX}/date={day}.lock"
    token = json.dumps({"owner": uuid.uuid4().hex, "expires": time.time() + LOCK_LEASE_SECONDS}).encode()
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while not storage.create_exclusive(token, key):
        try:
            held = json.loads(storage.read_bytes(key))
            stale = float(held["expires"]) < time.time()
        except (OSError, ValueError, KeyError, TypeError):
            stale = False  # gone since (retry at once) or being written
        except Exception as error:  # S3's NoSuchKey: released just now
            if "NoSuchKey" not in str(error) and "404" not in str(error):
                raise
            stale = False
        if stale:
            storage.delete(key)
            continue
        if time.monotonic() > deadline:
            raise CommandError(f"another submission for {day} holds {storage.uri_for(key)}; try again, nothing landed")
        time.sleep(0.05 + random.random() * 0.1)
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            if storage.read_bytes(key) == token:
                storage.delete(key)


def check_partition(day: str) -> None:
    """Only dates the predictions' partitions cover (first date to tomorrow, UTC) are ever scored."""
    from odf_assets.predictions.transforms import FIRST_DATE

    last = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    if not FIRST_DATE <= day <= last:
        raise CommandError(
            f"--date {day} is outside the predictions' partitions ({FIRST_DATE} to {last}): "
            "items landed for it would never be scored, nothing landed"
        )


def _format(path: str, requested: str | None) -> str:
    if requested:
        return requested
    suffix = PurePosixPath(path).suffix.lower().lstrip(".")
    return suffix if suffix in FORMATS else "jsonl"


def validated_records(data: bytes, fmt: str, max_bytes: int):
    """(valid frame, problems): the file parsed and validated exactly as a landed file would be."""
    from odf_assets.predictions import landing_keys, landing_records, transforms

    entry = landing_keys.LandingEntry(key=f"submit.{fmt}", version="submitted", date=None, size=len(data))
    landed = landing_records.parse_landing_stream(entry, io.BytesIO(data), max_bytes)
    valid, rejects = transforms.validate(landed)
    problems = [
        f"{'file' if row['line'] == transforms.FILE_LEVEL_LINE else 'line ' + str(row['line'])}: {row['reason']}"
        for row in rejects.sort("line").iter_rows(named=True)
    ]
    return valid, problems


def _clashes(storage, day: str, ids: set[str], max_bytes: int):
    """(entry, lines) per file already landed for ``day`` holding any of ``ids``: files are streamed
    a batch at a time (never held whole); files the scorer rejects whole are skipped, as it skips them."""
    import polars as pl

    from odf_assets.predictions import landing_keys, landing_records

    wanted = pl.Series(sorted(ids), dtype=pl.String)
    found = []
    for item in storage.list(landing_keys.date_prefix(day)):
        entry = landing_keys.classify_landing_key(item.key, item.version, item.size, item.symlink)
        if entry.problem or item.size > max_bytes:
            continue
        hits = []
        try:
            with contextlib.closing(storage.open_stream(entry.key)) as stream:
                for batch in landing_records.landing_batches(entry, stream, max_bytes):
                    hits.append(batch.filter(pl.col("id").is_in(wanted)).select("id", "line"))
        except landing_records.LandingFileProblem:
            continue
        hit = pl.concat(hits) if hits else pl.DataFrame()
        if hit.height:
            found.append((entry, hit))
    return found


def _without_lines(data: bytes, lines: set[int]) -> bytes:
    """``data`` minus the given 1-based lines, split as the landing parser splits them."""
    text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
    kept = [line for number, line in enumerate(text, start=1) if number not in lines]
    return "".join(kept).encode()


def _jsonl(valid) -> bytes:
    from odf_assets.predictions.transforms import FEATURES

    return valid.select("id", *FEATURES).write_ndjson().encode()


def submit(storage, day: str, data: bytes, fmt: str, *, replace: bool, max_bytes: int) -> tuple[str, int, int]:
    """Land ``data``'s records for ``day``; returns (object key, items, earlier records replaced)."""
    from odf_assets.predictions import landing_keys, landing_records

    valid, problems = validated_records(data, fmt, max_bytes)
    if problems:
        shown = problems[:SHOWN_PROBLEMS] + (
            [f"… and {len(problems) - SHOWN_PROBLEMS} more"] if len(problems) > SHOWN_PROBLEMS else []
        )
        raise CommandError(f"{len(problems)} invalid record(s), nothing landed:\n  " + "\n  ".join(shown))
    if valid.is_empty():
        raise CommandError("no records in the input, nothing landed")
    ids = set(valid["id"].to_list())
    with _date_lock(storage, day):
        clashes = _clashes(storage, day, ids, max_bytes)
        if clashes and not replace:
            taken = sorted({i for _, hit in clashes for i in hit["id"].to_list()})
            files = ", ".join(entry.name for entry, _ in clashes)
            raise CommandError(
                f"{len(taken)} id(s) already landed for {day} (in {files}), e.g. {taken[:5]}; "
                "use --replace to replace those records, nothing landed"
            )
        replaced = 0
        for entry, hit in clashes:
            # Below the per-file limit (checked while streaming), so holding this one file is bounded.
            remaining = _without_lines(storage.read_bytes(entry.key), set(hit["line"].to_list()))
            replaced += hit.height
            if remaining.strip() and landing_records.parse_landing_stream(entry, io.BytesIO(remaining)).height:
                storage.publish_bytes(remaining, entry.key)
            else:
                storage.delete(entry.key)
        body = _jsonl(valid)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        key = f"{landing_keys.date_prefix(day)}/submit-{stamp}-{hashlib.sha256(body).hexdigest()[:12]}.jsonl"
        storage.publish_bytes(body, key)
    return key, valid.height, replaced


def _command(args: argparse.Namespace) -> int:
    day = parse_date(args.date, "--date")
    check_partition(day)
    fmt = _format(args.file, args.format)
    from odf_resources import settings
    from odf_resources.storage import UnsafeKeyError, storage_from_uri

    max_bytes = settings.landing_max_file_bytes()
    data = _read_input(args.file, max_bytes)
    storage = storage_from_uri(settings.storage_uri())
    try:
        key, items, replaced = submit(storage, day, data, fmt, replace=args.replace, max_bytes=max_bytes)
    except UnsafeKeyError as error:  # a linked landing folder: refused, as the sensor refuses it
        raise CommandError(f"{error}; nothing landed") from None
    print(
        f"landed {items} item(s) for {day} as {key}" + (f" (replaced {replaced} earlier record(s))" if replaced else "")
    )
    print(f"  {storage.uri_for(key)}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    text = (
        "Land iris items (JSON Lines or CSV: id plus the four features) for one date; the landing sensor scores them."
    )
    parser = subparsers.add_parser("submit", help=text, description=text)
    parser.add_argument("file", metavar="FILE", help="a .jsonl or .csv file, or - for standard input")
    parser.add_argument("--date", required=True, help="the date partition the items belong to, YYYY-MM-DD")
    parser.add_argument("--format", choices=FORMATS, help="input format (default: from the file's suffix, jsonl for -)")
    parser.add_argument("--replace", action="store_true", help="replace records of ids already landed for that date")
    parser.set_defaults(func=_command)
