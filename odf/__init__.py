"""The ODF code location's composition root (``odf.definitions``)."""

import gc
import warnings

import dagster as dg

# Dagster's modules and objects live as long as the process: moved out of the cyclic collector's
# generations, the full collections that building ODF's definitions triggers no longer walk them
# (0.1-0.2 s of CPU per process that loads the code location).
gc.freeze()

# backfill_policy and Output(data_version=...) are beta in Dagster 1.13 and used on purpose
# (range backfills, content-hash versions); their warnings would drown every log. Set here, before
# odf.definitions imports the domains that declare them.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
# Partitioned asset checks (one evaluation per check per day) are a preview feature in 1.13.
warnings.filterwarnings("ignore", category=dg.PreviewWarning)
