"""Checks the models cannot express alone: column names, cron expressions, reserved columns."""

from __future__ import annotations

import functools
import re

from odf_assets.sources.registry.errors import CONTROL

# The prefix of ODF's internal columns.
INTERNAL_PREFIX = "__odf"
COLUMN_NAME_MAX_CHARS = 128
# Polars reads a column name like "^.*$" as a regular expression and "*" as every column.
_UNSAFE_COLUMN = re.compile(r"^\^|\$$|\*|^\s|\s$")


def column_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a column (None when it can): 1-128 characters, no control characters,
    no ``*``, not starting with ``^`` or ending with ``$``, no leading or trailing space."""
    if not name or len(name) > COLUMN_NAME_MAX_CHARS:
        return f"column names have 1 to {COLUMN_NAME_MAX_CHARS} characters"
    if CONTROL.search(name):
        return "column names must not contain control characters"
    if _UNSAFE_COLUMN.search(name):
        return "column names must not contain '*', start with '^', end with '$' or start/end with a space"
    return None


# One check per distinct expression: each builds a ScheduleDefinition, and registries repeat a few crons.
@functools.cache
def is_valid_cron(expression: str) -> bool:
    """Dagster's own validation, through its public API: what the source's schedule will accept."""
    import warnings

    import dagster as dg

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # unusual intervals only warn; the real schedule warns again
            dg.ScheduleDefinition(name="fetch_cron", cron_schedule=expression, job_name="fetch_cron")
    except dg.DagsterError:
        return False
    return expression == expression.strip()
