"""Live progress and the final summary of a run, for ``odf materialize`` and ``odf trigger --wait``.

Both commands turn Dagster's events (read from the local instance or from GraphQL) into
``RunEvent``s and feed them here, so the two print the same lines and the same table. No Dagster
import: this module is pure formatting.
"""

from __future__ import annotations

import re
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TextIO

START, SUCCESS, FAILURE, MATERIALIZATION, CHECK, SKIPPED = (
    "start",
    "success",
    "failure",
    "materialization",
    "check",
    "skipped",
)


@dataclass(frozen=True)
class RunEvent:
    kind: str
    step: str | None = None
    asset: str | None = None
    partition: str | None = None
    rows: int | None = None
    check: str | None = None
    passed: bool | None = None
    severity: str | None = None  # "ERROR" | "WARN" for checks
    message: str | None = None
    timestamp: float | None = None


def step_label(step: str) -> str:
    """Dagster names an asset's step after its key with ``__`` for ``/``."""
    return step.replace("__", "/")


@dataclass
class _AssetTotals:
    partitions: set = field(default_factory=set)
    rows: int = 0
    rows_known: bool = False
    checks_passed: int = 0
    warn_failed: int = 0
    error_failed: int = 0


@dataclass
class _Step:
    started: float
    rows: int = 0
    partitions: set = field(default_factory=set)
    checks_failed: list[str] = field(default_factory=list)


# Dagster prefixes a raised dg.Failure's message with its class path; the description is the message.
_FAILURE_PREFIX = re.compile(r"^dagster\.[\w.]*\.Failure: ")


RETRIES_EXCEEDED = "Exceeded max_retries"


def step_error_text(message: str | None, cause: str | None) -> str:
    """A failed step's own error: after a RetryPolicy gives up Dagster reports "Exceeded max_retries
    of N" and keeps the last attempt's error as the cause."""
    if message and message.startswith(RETRIES_EXCEEDED) and cause:
        return cause
    return message or ""


def first_line(text: str | None, limit: int = 300) -> str:
    """The first non-blank line of an error, without Dagster's ``...Failure:`` prefix, capped."""
    lines = [part.strip() for part in (text or "").splitlines() if part.strip()]
    line = _FAILURE_PREFIX.sub("", lines[0]) if lines else ""
    if line.endswith(":") and len(lines) > 1:  # "N day(s) failed:" says little without its first item
        line = f"{line} {lines[1]}"
    return line if len(line) <= limit else line[: limit - 1] + "…"


class Progress:
    """Prints one line per finished step (plus a live status line on a terminal) and keeps totals."""

    def __init__(self, stream: TextIO | None = None, tty: bool | None = None):
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self.assets: dict[str, _AssetTotals] = defaultdict(_AssetTotals)
        self.running: dict[str, _Step] = {}
        self.done = 0
        self.failed_steps: list[tuple[str, str]] = []
        self.failed_checks: list[RunEvent] = []
        # (asset, day, why) for every partition left unmaterialized because its upstream day failed.
        self.skipped: list[tuple[str, str, str]] = []
        self._status_shown = False
        self._last_status = ""

    # -- events -------------------------------------------------------------------------------
    def feed(self, event: RunEvent) -> None:
        now = event.timestamp or time.time()
        step = event.step or "-"
        if event.kind == START:
            self.running[step] = _Step(started=now)
        elif event.kind == MATERIALIZATION and event.asset:
            totals = self.assets[event.asset]
            if event.partition:
                totals.partitions.add(event.partition)
            if event.rows is not None:
                totals.rows += event.rows
                totals.rows_known = True
            state = self.running.setdefault(step, _Step(started=now))
            state.rows += event.rows or 0
            if event.partition:
                state.partitions.add(event.partition)
        elif event.kind == CHECK and event.asset:
            totals = self.assets[event.asset]
            if event.passed:
                totals.checks_passed += 1
            else:
                if event.severity == "ERROR":
                    totals.error_failed += 1
                else:
                    totals.warn_failed += 1
                self.failed_checks.append(event)
                self.running.setdefault(step, _Step(started=now)).checks_failed.append(
                    f"{event.severity} {event.check}"
                )
        elif event.kind in (SUCCESS, FAILURE, SKIPPED):
            state = self.running.pop(step, None) or _Step(started=now)
            self.done += 1
            self._line(self._finished(event, state, now))
            if event.kind == FAILURE:
                self.failed_steps.append((step, first_line(event.message)))
        self._status()

    def _finished(self, event: RunEvent, state: _Step, now: float) -> str:
        seconds = max(0.0, now - state.started)
        label = step_label(event.step or "-")
        if event.kind == SKIPPED:
            return f"  - {label:<48} skipped (an upstream step failed)"
        if event.kind == FAILURE:
            return f"  ✗ {label:<48} FAILED after {seconds:.1f}s: {first_line(event.message)}"
        parts = []
        if state.partitions:
            parts.append(f"{len(state.partitions)} partition(s)")
        if state.rows:
            parts.append(f"{state.rows:,} rows")
        if state.checks_failed:
            parts.append("checks failed: " + ", ".join(sorted(set(state.checks_failed))))
        return f"  ✓ {label:<48} {seconds:5.1f}s  " + "  ".join(parts)

    # -- output -------------------------------------------------------------------------------
    def _line(self, text: str) -> None:
        if self._status_shown:
            self.stream.write("\r\033[K")
            self._status_shown = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def _status(self) -> None:
        if not self.tty or not self.running:
            return
        names = ", ".join(step_label(step) for step in list(self.running)[:3]) + (" …" if len(self.running) > 3 else "")
        status = f"  … {self.done} step(s) done; running {names}"
        if self._status_shown and status == self._last_status:
            return
        self.stream.write(f"\r\033[K{status}")
        self.stream.flush()
        self._status_shown, self._last_status = True, status

    def heading(self, text: str) -> None:
        self._line(text)

    def skipped_partition(self, asset: str, day: str, why: str) -> None:
        self.skipped.append((asset, day, why))

    def summary(self) -> str:
        """The table of assets with partitions, rows and check verdicts, then every failed check."""
        header = (
            f"  {'asset':<48} {'partitions':>10} {'rows':>12}  "
            f"{'checks ok':>9} {'WARN failed':>11} {'ERROR failed':>12}"
        )
        lines = [header, "  " + "-" * (len(header) - 2)]
        for asset, totals in sorted(self.assets.items()):
            rows = f"{totals.rows:,}" if totals.rows_known else "-"
            lines.append(
                f"  {asset:<48} {len(totals.partitions) or '-':>10} {rows:>12}  {totals.checks_passed:>9} "
                f"{totals.warn_failed:>11} {totals.error_failed:>12}"
            )
        for event in self.failed_checks:
            where = f" [{event.partition}]" if event.partition else ""
            lines.append(
                f"  {event.severity} check {event.check} failed on {event.asset}{where}"
                + (f": {event.message}" if event.message else "")
            )
        for step, message in self.failed_steps:
            lines.append(f"  step {step_label(step)} failed: {message}")
        for asset, day, why in self.skipped:
            lines.append(f"  skipped {asset} [{day}]: {why}")
        return "\n".join(lines)

    @property
    def error_failed(self) -> bool:
        return bool(self.failed_steps) or any(totals.error_failed for totals in self.assets.values())

    def verdict(self) -> str:
        warn = sum(t.warn_failed for t in self.assets.values())
        error = sum(t.error_failed for t in self.assets.values())
        if self.failed_steps:
            return f"FAILED: {len(self.failed_steps)} step(s) failed"
        if error:
            return f"FAILED: {error} ERROR check(s) failed" + (f", {warn} WARN" if warn else "")
        if warn:
            return f"succeeded with warnings: {warn} WARN check(s) failed"
        return "succeeded: every check passed"
