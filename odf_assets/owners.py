"""Registry ``owner`` text as a Dagster owner: the UI filters and groups assets by owners."""

from __future__ import annotations

import re

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def dagster_owner(owner: str) -> str:
    """An email stays an email; any other text becomes a ``team:`` slug of its name, the part before
    any parenthesis, comma or semicolon ("City open-data portal (GIS team)" → ``team:city_open_data_portal``).
    The full text stays in the asset's ``owner`` metadata."""
    text = owner.strip()
    if _EMAIL.match(text):
        return text
    name = re.split(r"[(,;]", text, maxsplit=1)[0]
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    return f"team:{slug or 'unknown'}"
