"""Consolidations: one daily aggregate over two or more registry sources, joined or stacked.

Declared in a registry file's top-level ``consolidations:`` list and resolved by
``registry.consolidations`` (file, key path, expectation in every error); ``combine_inputs`` is the
pure Polars half; the asset lives in ``consolidation_assets``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from odf_assets.quality import registry_dtypes
from odf_assets.sources.registry.consolidations import ConsolidationSpec, InputSpec, load_consolidations
from odf_resources.constants import PARTITION_COLUMN

if TYPE_CHECKING:  # polars is imported where used: the code location loads without it
    import polars as pl

__all__ = ["ConsolidationSpec", "InputSpec", "combine_inputs", "load_consolidations"]


# -- combining (pure Polars) ------------------------------------------------------------------


def _input_rows(frame: pl.LazyFrame, spec: InputSpec, types: Mapping[str, pl.DataType]) -> pl.LazyFrame:
    """One input's rows as ``date`` plus its output columns, cast to the combined types."""
    import polars as pl

    return frame.select(
        pl.col(PARTITION_COLUMN),
        *[pl.col(column).alias(output).cast(types[output]) for column, output in spec.columns.items()],
    )


def combine_inputs(spec: ConsolidationSpec, frames: Mapping[str, pl.LazyFrame]) -> pl.LazyFrame:
    """The combined rows of ``frames`` (input source name → its raw rows, with ``date``):
    an inner join on date + ``keys``, or the inputs stacked (only date + ``keys`` kept)."""
    import polars as pl

    types = {column: registry_dtypes()[kind] for column, kind in spec.schema.items()}
    keys = [PARTITION_COLUMN, *spec.keys]
    if spec.combine == "union":
        parts = []
        for input_spec in spec.inputs:
            stacked = {column: output for column, output in input_spec.columns.items() if output in spec.keys}
            rows = _input_rows(frames[input_spec.source], InputSpec(input_spec.source, stacked, {}), types).select(keys)
            if spec.source_column:
                rows = rows.with_columns(pl.lit(input_spec.source, pl.String).alias(spec.source_column))
            parts.append(rows)
        return pl.concat(parts, how="vertical")
    combined = None
    for input_spec in spec.inputs:
        rows = _input_rows(frames[input_spec.source], input_spec, types)
        # nulls_equal=False: SQL's inner join, where a null key matches nothing.
        combined = rows if combined is None else combined.join(rows, on=keys, how="inner")
    return combined
