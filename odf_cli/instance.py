"""The one local Dagster instance that ``odf`` commands and ``odf dev`` share.

``DAGSTER_HOME`` wins when set. Otherwise the instance lives in ``./.odf/dagster_home`` next to the
default storage (``./.odf/storage``), configured by the checkout's ``dagster.yaml``, so a run made
by ``odf materialize`` shows up in the UI that ``odf dev`` starts, and ``odf results`` finds it.
"""

from __future__ import annotations

import os
from pathlib import Path

from odf_resources import settings

LOCAL_HOME = Path(".odf") / "dagster_home"
INSTANCE_FILE = "dagster.yaml"


def dagster_home() -> Path:
    """The instance directory, created and given the checkout's ``dagster.yaml`` when it is ODF's own."""
    configured = settings.dagster_home()
    if configured:
        return Path(configured)
    home = LOCAL_HOME.resolve()
    home.mkdir(parents=True, exist_ok=True)
    checkout, target = Path(INSTANCE_FILE), home / INSTANCE_FILE
    # Outside a checkout: an empty file, Dagster's defaults (and no warning about a missing file).
    text = checkout.read_text() if checkout.is_file() else ""
    if not target.is_file() or (
        checkout.is_file() and target.read_text() != text
    ):  # follow edits of the checkout's file
        target.write_text(text)
    return home


def use_local_instance() -> Path:
    """Points ``DAGSTER_HOME`` of this process (and its children) at the shared instance."""
    home = dagster_home()
    os.environ["DAGSTER_HOME"] = str(home)
    return home
