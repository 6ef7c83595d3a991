"""The ODF code location's composition root (``odf.definitions``)."""

import warnings

import dagster as dg

# backfill_policy and Output(data_version=...) are beta in Dagster 1.13 and used on purpose
# (range backfills, content-hash versions); their warnings would drown every log. Set here, before
# odf.definitions imports the domains that declare them.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
# Partitioned asset checks (one evaluation per check per day) are a preview feature in 1.13.
warnings.filterwarnings("ignore", category=dg.PreviewWarning)
