"""Finding 5 and 6: the landing zone never follows links, caps file sizes, refuses control characters
in names (escaped in logs), sees a forged date folder as refused; the CLI takes YYYY-MM-DD only."""

import json
import os

import pytest

from odf_assets.predictions import landing_keys, landing_records, store, transforms
from odf_cli.main import main as odf
from odf_resources.storage import LocalStorage, UnsafeKeyError
from odf_sensors.landing import _log_problems, group_by_partition
from tests.predictions.helpers import item, jsonl, land_raw, materialize_model, materialize_predictions

DAY = "2024-05-01"
SECRET = "root:x:0:0:odf-canary-secret:/root:/bin/bash"


class Log:
    def __init__(self):
        self.lines: list[str] = []

    def warning(self, message: str) -> None:
        self.lines.append(message)


@pytest.fixture
def base(tmp_path, monkeypatch):
    base = tmp_path / "storage"
    monkeypatch.setenv("ODF_STORAGE", str(base))
    land_raw(str(base), f"landing/iris/date={DAY}/good.jsonl", jsonl(item("a"), item("b")))
    return base


def test_symlinks_are_refused_with_a_reason_and_never_read(base, tmp_path, capsys):
    outside = tmp_path / "passwd"
    outside.write_text(SECRET + "\n")
    folder = base / "landing" / "iris" / f"date={DAY}"
    os.symlink(outside, folder / "passwd.jsonl")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "x.jsonl").write_text(SECRET + "\n")
    os.symlink(elsewhere, base / "landing" / "iris" / "date=2024-05-02")

    landed, _ = store.read_landed(LocalStorage(base), DAY)
    problems = landed.filter(landed["line"] == transforms.FILE_LEVEL_LINE)
    assert problems["source_file"].to_list() == ["passwd.jsonl"]
    assert "is a symbolic link; links are never followed" in problems["problem"].item()
    materialize_model(str(base))
    materialize_predictions(str(base), DAY)
    capsys.readouterr()
    assert odf(["predictions", "--date", DAY, "--status", "rejected", "--format", "jsonl"]) == 0
    assert odf(["predictions", "--date", "2024-05-02", "--format", "jsonl"]) == 0
    out = capsys.readouterr().out
    assert "symbolic link" in out
    assert "odf-canary-secret" not in out
    listed = LocalStorage(base).list("landing/iris")
    assert {o.key: o.symlink for o in listed} == {
        f"landing/iris/date={DAY}/good.jsonl": False,
        f"landing/iris/date={DAY}/passwd.jsonl": True,
        "landing/iris/date=2024-05-02": True,
    }
    log = Log()
    by_date, ignored = group_by_partition(store.landing_entries(LocalStorage(base)))
    _log_problems(log, by_date[DAY] + ignored)
    assert log.lines == [
        f"iris_landing_sensor: skipping 'landing/iris/date={DAY}/passwd.jsonl': "
        "'passwd.jsonl' is a symbolic link; links are never followed",
        "iris_landing_sensor: skipping 'landing/iris/date=2024-05-02': "
        "'landing/iris/date=2024-05-02' is a symbolic link; links are never followed",
    ]


def test_a_link_swapped_in_after_listing_is_not_opened(base, tmp_path):
    outside = tmp_path / "passwd"
    outside.write_text(SECRET)
    storage = LocalStorage(base)
    key = f"landing/iris/date={DAY}/good.jsonl"
    os.replace(base / key, tmp_path / "moved")
    os.symlink(outside, base / key)
    with pytest.raises((UnsafeKeyError, OSError), match="symbolic link|Too many levels"):
        storage.open_stream(key)


def test_files_above_the_size_limit_are_rejected_whole_without_being_read(base, monkeypatch, capsys):
    land_raw(str(base), f"landing/iris/date={DAY}/big.jsonl", jsonl(*[item(f"i{n}") for n in range(100)]))
    monkeypatch.setenv("ODF_LANDING_MAX_FILE_BYTES", "2000")
    landed, _ = store.read_landed(LocalStorage(base), DAY, 2000)
    big = landed.filter(landed["source_file"] == "big.jsonl")
    assert (
        big.height == 1
        and "above the per-file limit of 2000 bytes (ODF_LANDING_MAX_FILE_BYTES)" in big["problem"].item()
    )
    assert landed.filter(landed["source_file"] == "good.jsonl").height == 2

    class Growing:  # listed small, larger when read: the limit holds while streaming too
        def read(self, n):
            return b"x" * n

    entry = landing_keys.classify_landing_key(f"landing/iris/date={DAY}/grow.jsonl", "v", size=10)
    assert "per-file limit" in landing_records.parse_landing_stream(entry, Growing(), 5000)["problem"].item()


def test_control_characters_in_names_are_refused_and_escaped_in_logs(base):
    forged = f"landing/iris/date={DAY}/a.jsonl\n2024-05-01 INFO all good.jsonl"
    land_raw(str(base), forged, jsonl(item("z")))
    log = Log()
    by_date, ignored = group_by_partition(store.landing_entries(LocalStorage(base)))
    _log_problems(log, ignored)
    assert [e.key for e in by_date[DAY]] == [f"landing/iris/date={DAY}/good.jsonl"]
    assert len(log.lines) == 1 and "\n" not in log.lines[0] and "\\n2024-05-01 INFO" in log.lines[0]
    assert "control characters" in log.lines[0]


def test_a_date_folder_with_a_control_character_is_refused_not_counted(base):
    land_raw(str(base), f"landing/iris/date={DAY}\n/x.jsonl", jsonl(item("z")))
    by_date, ignored = group_by_partition(store.landing_entries(LocalStorage(base)))
    assert [e.name for e in by_date[DAY]] == ["good.jsonl"], "the forged folder is not counted for the date"
    assert [e.key for e in ignored] == [f"landing/iris/date={DAY}\n/x.jsonl"]
    assert "control characters" in ignored[0].problem and "\\n" in ignored[0].problem


def test_a_huge_bad_value_is_quoted_capped(base):
    land_raw(
        str(base),
        f"landing/iris/date={DAY}/huge.jsonl",
        (json.dumps({**item("h"), "sepal_length": "9" * 5_000_000}) + "\n").encode(),
    )
    landed, _ = store.read_landed(LocalStorage(base), DAY)
    problem = landed.filter(landed["source_file"] == "huge.jsonl")["problem"].item()
    assert "is above the limit of 8192" in problem and len(problem) < 400


@pytest.mark.parametrize("spelling", ["20240501", "2024-5-1", "2024-W18-3", "2024-05-01\n", "2024-05-01T00:00"])
def test_the_cli_refuses_other_date_spellings(base, spelling, capsys):
    assert odf(["predictions", "--date", spelling]) == 2
    err = capsys.readouterr().err
    assert "is not a date (expected YYYY-MM-DD)" in err and "\n" not in err.rstrip("\n")


def test_the_cli_answers_for_the_iso_spelling(base, capsys):
    assert odf(["predictions", "--date", DAY, "--format", "jsonl"]) == 0
    assert capsys.readouterr().out.count('"status":"unpredicted"') == 2


def test_writes_through_a_linked_folder_are_refused(tmp_path):
    """Observation 8: publishes (the IO manager's and submit's) never follow a linked folder out of storage."""
    base = tmp_path / "storage"
    outside = tmp_path / "outside"
    outside.mkdir()
    (base / "predictions").mkdir(parents=True)
    os.symlink(outside, base / "predictions" / "iris_predictions")
    storage = LocalStorage(base)
    with pytest.raises(UnsafeKeyError, match="symbolic link"):
        storage.publish_bytes(b"x", "predictions/iris_predictions/date=2024-05-01.parquet")
    with pytest.raises(UnsafeKeyError, match="symbolic link"):
        storage.create_exclusive(b"x", "predictions/iris_predictions/lock")
    assert list(outside.iterdir()) == []
