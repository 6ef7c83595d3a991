"""ODF's software-defined assets: sources, aggregates, the sales pipeline and analysis results."""

import warnings

import dagster as dg

# backfill_policy and Output(data_version=...) are beta in Dagster 1.13 and used on purpose
# (range backfills, content-hash versions); their warnings would drown every log.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
