"""The progress printer on its own: a line per finished step without a terminal, a live status line
with one, and verdicts that tell WARN from ERROR."""

from __future__ import annotations

import io

from odf_cli.progress import CHECK, FAILURE, MATERIALIZATION, START, SUCCESS, Progress, RunEvent, first_line


def feed_run(progress: Progress, *, error_check: bool = False) -> None:
    progress.feed(RunEvent(START, step="raw__shop", timestamp=10.0))
    progress.feed(
        RunEvent(MATERIALIZATION, step="raw__shop", asset="raw/shop", partition="2024-01-01", rows=3, timestamp=11.0)
    )
    progress.feed(
        RunEvent(MATERIALIZATION, step="raw__shop", asset="raw/shop", partition="2024-01-02", rows=4, timestamp=11.0)
    )
    progress.feed(
        RunEvent(
            CHECK,
            step="raw__shop",
            asset="raw/shop",
            check="nulls",
            passed=False,
            severity="WARN",
            partition="2024-01-02",
        )
    )
    progress.feed(
        RunEvent(
            CHECK, step="raw__shop", asset="raw/shop", check="key_is_unique", passed=not error_check, severity="ERROR"
        )
    )
    progress.feed(RunEvent(SUCCESS, step="raw__shop", timestamp=12.5))


def test_non_tty_prints_one_plain_line_per_step_and_a_summary():
    out = io.StringIO()
    progress = Progress(out, tty=False)
    feed_run(progress)
    (line,) = out.getvalue().splitlines()
    assert line.startswith("  ✓ raw/shop ") and line.split()[2:] == [
        "2.5s",
        "2",
        "partition(s)",
        "7",
        "rows",
        "checks",
        "failed:",
        "WARN",
        "nulls",
    ]
    assert "\r" not in out.getvalue() and "\033" not in out.getvalue()
    summary = progress.summary()
    assert "raw/shop" in summary and " 7 " in summary and "WARN check nulls failed on raw/shop [2024-01-02]" in summary
    assert not progress.error_failed and progress.verdict().startswith("succeeded with warnings")


def test_tty_shows_running_steps_on_a_status_line():
    out = io.StringIO()
    progress = Progress(out, tty=True)
    progress.feed(RunEvent(START, step="sales__cleaned_sales", timestamp=1.0))
    assert "\r" in out.getvalue() and "running sales/cleaned_sales" in out.getvalue()


def test_error_checks_and_failed_steps_fail_the_verdict():
    progress = Progress(io.StringIO(), tty=False)
    feed_run(progress, error_check=True)
    assert progress.error_failed and progress.verdict() == "FAILED: 1 ERROR check(s) failed, 1 WARN"
    progress.feed(
        RunEvent(
            FAILURE, step="agg__x", message="dagster._core.definitions.events.Failure: bad day:\n2024-01-02: empty"
        )
    )
    assert progress.failed_steps == [("agg__x", "bad day: 2024-01-02: empty")]
    assert first_line("\n  boom  \ntrace") == "boom"
