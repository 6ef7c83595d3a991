"""bench.startup refuses a run during which ODF's sources changed: their ``.pyc`` went stale, so
the "compiled" layout would silently time modules compiled on every import."""

import pytest

from bench.startup import project_sources, refuse_changed_sources


def test_project_sources_cover_every_package_the_code_location_imports():
    sources = project_sources()
    assert {"odf/definitions.py", "odf_assets/checks.py", "odf_resources/settings/model.py"} <= set(sources)
    assert all(mtime > 0 and size >= 0 for mtime, size in sources.values())


def test_an_unchanged_checkout_passes():
    sources = project_sources()
    refuse_changed_sources(sources, dict(sources))


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (
            lambda s: s.update({"odf/definitions.py": (s["odf/definitions.py"][0] + 1, s["odf/definitions.py"][1])}),
            "odf/definitions.py",
        ),
        (lambda s: s.update({"odf_assets/new_module.py": (1, 10)}), "odf_assets/new_module.py"),
        (lambda s: s.pop("odf_assets/checks.py"), "odf_assets/checks.py"),
    ],
    ids=["touched", "added", "removed"],
)
def test_a_source_touched_added_or_removed_during_the_run_is_refused_by_name(change, named):
    before = project_sources()
    after = dict(before)
    change(after)
    with pytest.raises(SystemExit, match=f"changed during the measurement \\({named}\\).*went stale"):
        refuse_changed_sources(before, after)
