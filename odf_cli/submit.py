"""``odf submit --date D FILE|-``: land iris items for scoring, as the old ``POST /data`` did.

Records are validated with the predictions' own parser and rules before anything is written, then
land as ONE object under the date's landing folder (local or S3, atomic on both), which the landing
sensor scores. Ids already landed for that date are refused unless ``--replace``: then the earlier
records with those ids are removed from their files first, so a crash in between leaves nothing a
second identical command would not fix. Standard library only at import time (``odf --help``).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
from datetime import UTC, datetime
from pathlib import PurePosixPath

from odf_cli.main import CommandError, parse_date

FORMATS = ("jsonl", "csv")
# Problems listed before "… and N more".
SHOWN_PROBLEMS = 10


def _read_input(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as error:
        raise CommandError(f"cannot read {path!r}: {error.strerror or error}") from None


def _format(path: str, requested: str | None) -> str:
    if requested:
        return requested
    suffix = PurePosixPath(path).suffix.lower().lstrip(".")
    return suffix if suffix in FORMATS else "jsonl"


def validated_records(data: bytes, fmt: str, max_bytes: int):
    """(valid frame, problems): the file parsed and validated exactly as a landed file would be."""
    from odf_assets.predictions import transforms

    entry = transforms.LandingEntry(key=f"submit.{fmt}", version="submitted", date=None, size=len(data))
    landed = transforms.parse_landing_stream(entry, io.BytesIO(data), max_bytes)
    valid, rejects = transforms.validate(landed)
    problems = [
        f"{'file' if row['line'] == transforms.FILE_LEVEL_LINE else 'line ' + str(row['line'])}: {row['reason']}"
        for row in rejects.sort("line").iter_rows(named=True)
    ]
    return valid, problems


def _landed_files(storage, day: str):
    """(entry, bytes, landed frame) of every readable file already landed for ``day``."""
    from odf_assets.predictions import transforms

    found = []
    for item in storage.list(transforms.date_prefix(day)):
        entry = transforms.classify_landing_key(item.key, item.version, item.size, item.symlink)
        if entry.problem:
            continue
        data = storage.read_bytes(entry.key)
        found.append((entry, data, transforms.parse_landing_stream(entry, io.BytesIO(data))))
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
    from odf_assets.predictions import transforms

    valid, problems = validated_records(data, fmt, max_bytes)
    if problems:
        shown = problems[:SHOWN_PROBLEMS] + (
            [f"… and {len(problems) - SHOWN_PROBLEMS} more"] if len(problems) > SHOWN_PROBLEMS else []
        )
        raise CommandError(f"{len(problems)} invalid record(s), nothing landed:\n  " + "\n  ".join(shown))
    if valid.is_empty():
        raise CommandError("no records in the input, nothing landed")
    ids = set(valid["id"].to_list())
    clashes = []
    for entry, existing, landed in _landed_files(storage, day):
        hit = landed.filter(landed["id"].is_in(list(ids)))
        if not hit.is_empty():
            clashes.append((entry, existing, hit))
    if clashes and not replace:
        taken = sorted({i for _, _, hit in clashes for i in hit["id"].to_list()})
        files = ", ".join(entry.name for entry, _, _ in clashes)
        raise CommandError(
            f"{len(taken)} id(s) already landed for {day} (in {files}), e.g. {taken[:5]}; "
            "use --replace to replace those records, nothing landed"
        )
    replaced = 0
    for entry, existing, hit in clashes:
        remaining = _without_lines(existing, set(hit["line"].to_list()))
        replaced += hit.height
        if remaining.strip() and transforms.parse_landing_stream(entry, io.BytesIO(remaining)).height:
            storage.publish_bytes(remaining, entry.key)
        else:
            storage.delete(entry.key)
    body = _jsonl(valid)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    key = f"{transforms.date_prefix(day)}/submit-{stamp}-{hashlib.sha256(body).hexdigest()[:12]}.jsonl"
    storage.publish_bytes(body, key)
    return key, valid.height, replaced


def _command(args: argparse.Namespace) -> int:
    day = parse_date(args.date, "--date")
    fmt = _format(args.file, args.format)
    data = _read_input(args.file)
    from odf_resources import settings
    from odf_resources.storage import storage_from_uri

    storage = storage_from_uri(settings.storage_uri())
    key, items, replaced = submit(
        storage, day, data, fmt, replace=args.replace, max_bytes=settings.landing_max_file_bytes()
    )
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
