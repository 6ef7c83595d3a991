"""Stored days are never emptied or shrunk silently: the policy, as a pure function.

A day that holds rows in storage keeps them byte for byte when a new fetch has no rows for it
(a truncated or header-only file), or fewer than ``checks.max_shrink_fraction`` allows, unless
the operator says so for one run with the run tag ``odf/replace_stored_days=true``.
"""

from __future__ import annotations

from dataclasses import dataclass

# Run tag an operator sets on one run (UI "Launch with tags", `dagster job launch --tags`) to let
# fetched days replace stored ones that hold more rows.
REPLACE_STORED_DAYS_TAG = "odf/replace_stored_days"


@dataclass(frozen=True)
class Shrink:
    """A day whose new rows would replace more stored rows than the policy allows."""

    day: str
    stored_rows: int
    new_rows: int

    @property
    def lost_fraction(self) -> float:
        return (self.stored_rows - self.new_rows) / self.stored_rows


def replacement_allowed(tags: dict[str, str]) -> bool:
    return tags.get(REPLACE_STORED_DAYS_TAG, "").strip().lower() in ("true", "1", "yes")


def shrinks(new_rows: dict[str, int], stored_rows: dict[str, int], max_shrink_fraction: float | None) -> list[Shrink]:
    """Days that would lose stored rows beyond the policy: any stored day emptied; with
    ``max_shrink_fraction``, any day losing more than that fraction of its stored rows."""
    found = []
    for day, new in new_rows.items():
        stored = stored_rows.get(day, 0)
        if stored <= new:
            continue
        shrink = Shrink(day, stored, new)
        if new == 0 or (max_shrink_fraction is not None and shrink.lost_fraction > max_shrink_fraction):
            found.append(shrink)
    return found


def refusal(shrink: Shrink, sha256: str, max_shrink_fraction: float | None) -> str:
    """Why the day kept its stored object, what it kept and how to replace it on purpose."""
    if shrink.new_rows == 0:
        why = f"the fetched data has no rows for this day but the stored partition holds {shrink.stored_rows}"
    else:
        why = (
            f"the fetched data has {shrink.new_rows} row(s) for this day, the stored partition "
            f"{shrink.stored_rows}: it would lose {shrink.lost_fraction:.0%}, more than "
            f"checks.max_shrink_fraction {max_shrink_fraction}"
        )
    return (
        f"{why}; kept the stored {shrink.stored_rows} row(s) byte for byte (sha256 {sha256}); "
        f"to replace them on purpose, re-run with the run tag {REPLACE_STORED_DAYS_TAG}=true"
    )
