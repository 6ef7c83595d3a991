"""The one local Dagster instance and storage that ``odf`` commands, ``odf dev`` and ``dg`` share.

They live in the project's ``.odf/`` folder, wherever the command is run from: the project is
``ODF_HOME`` when set, else the nearest folder at or above the current one holding a
``pyproject.toml`` (the checkout), else the current folder. ``DAGSTER_HOME`` and ``ODF_STORAGE`` win
when set. The instance is configured by the project's ``dagster.yaml``, so a run made by ``odf
materialize`` shows up in the UI that ``odf dev`` starts, and ``odf results`` finds it.
"""

from __future__ import annotations

import os
from pathlib import Path

from odf_cli.main import CommandError
from odf_resources import settings

PROJECT_MARKER = "pyproject.toml"
LOCAL_HOME = Path(".odf") / "dagster_home"
LOCAL_STORAGE = Path(".odf") / "storage"
INSTANCE_FILE = "dagster.yaml"


def project_root() -> Path:
    """ODF_HOME, else the nearest folder with a pyproject.toml at or above the current one, else the current one."""
    configured = settings.odf_home()
    if configured:
        root = Path(configured).expanduser().resolve()
        if not root.is_dir():
            raise CommandError(f"ODF_HOME {root} is not a folder: create it or unset ODF_HOME")
        return root
    here = Path.cwd().resolve()
    return next((folder for folder in (here, *here.parents) if (folder / PROJECT_MARKER).is_file()), here)


def use_project_storage() -> str:
    """The storage this process and its children use: ODF_STORAGE, else the project's ``.odf/storage``
    (made absolute in the environment, so a command run from a subfolder writes where ``odf dev`` reads)."""
    if settings.storage_is_set():
        return settings.storage_uri()
    storage = str(project_root() / LOCAL_STORAGE)
    os.environ["ODF_STORAGE"] = storage
    return storage


def dagster_home() -> Path:
    """The instance directory, created and given the project's ``dagster.yaml`` when it is ODF's own."""
    configured = settings.dagster_home()
    if configured:
        home = Path(configured).expanduser()
        if not home.is_dir():
            raise CommandError(
                f"DAGSTER_HOME {home} does not exist: create it (mkdir -p {home}) or unset DAGSTER_HOME "
                f"to use the project's instance {project_root() / LOCAL_HOME}"
            )
        return home.resolve()
    root = project_root()
    home = root / LOCAL_HOME
    home.mkdir(parents=True, exist_ok=True)
    project_file, target = root / INSTANCE_FILE, home / INSTANCE_FILE
    # Outside a project: an empty file, Dagster's defaults (and no warning about a missing file).
    text = project_file.read_text() if project_file.is_file() else ""
    if not target.is_file() or (project_file.is_file() and target.read_text() != text):
        target.write_text(text)  # follow edits of the project's file
    return home


def use_local_instance() -> Path:
    """Points ``DAGSTER_HOME`` and ``ODF_STORAGE`` of this process (and its children) at the project's."""
    home = dagster_home()
    os.environ["DAGSTER_HOME"] = str(home)
    use_project_storage()
    return home


def describe(home: Path) -> str:
    """Which instance and storage a local command uses, for its first line."""
    return f"instance {home}, storage {use_project_storage()}"
