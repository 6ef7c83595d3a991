"""Registry parsing: the bundled file is valid; bad files fail naming the file, key and expectation."""

from datetime import date

import pytest

from odf_assets.sources.registry import DEFAULT_REGISTRY, RegistryError, load_registry, load_registry_file
from tests.support.pipeline import write_registry


def source(**overrides):
    spec = {
        "name": "shop_sales",
        "description": "Sales of a shop",
        "license": "CC0",
        "owner": "Shop",
        "url_template": "http://127.0.0.1:9/{date}.csv",
        "format": "csv",
        "schema": {"id": "string", "amount": "float64", "day": "date"},
        "start_date": "2024-01-01",
    }
    spec.update(overrides)
    return {k: v for k, v in spec.items() if v is not None}


def test_bundled_registry_parses_with_sample_file_next_to_it():
    sources = load_registry_file(DEFAULT_REGISTRY)
    sales = next(s for s in sources if s.name == "iowa_liquor_sales")
    assert sales.url.startswith("file://") and sales.url.endswith("iowa_liquor_sales_2024q1.csv")
    assert sales.start_date == date(2024, 1, 1) and sales.end_date == date(2024, 3, 31)
    assert [a.name for a in sales.aggregates] == ["sales_by_county", "sales_by_vendor"]


def test_valid_template_source_and_relative_paths(tmp_path):
    spec = load_registry_file(write_registry(tmp_path, [source(url_template="data/{date}.csv")]))[0]
    assert spec.url_for("2024-02-03") == (tmp_path / "data" / "2024-02-03.csv").as_uri()


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"format": "xlsx"}, r"sources\[0\] \(shop_sales\)\.format: unknown format 'xlsx'"),
        ({"schema": {"id": "decimal"}}, r"\.schema\.id: unknown type 'decimal'"),
        ({"colour": "red"}, r"sources\[0\]\.colour: unknown key \(expected one of"),
        ({"name": "Shop Sales"}, r"sources\[0\]\.name: 'Shop Sales' must be lowercase"),
        ({"description": None}, r"\.description: is required"),
        ({"start_date": "yesterday"}, r"\.start_date: expected a date YYYY-MM-DD, got 'yesterday'"),
        ({"url": "http://x/all.csv"}, r"set exactly one of 'url_template'"),
        ({"url_template": None, "url": "http://x/all.csv"}, r"\.date_column: is required with 'url'"),
        ({"url_template": None, "url": "http://x/a.csv", "date_column": "amount"}, r"\.date_column: must be a schema column of type date"),
        ({"url_template": "http://x/all.csv"}, r"\.url_template: must contain \{date\}"),
        ({"active": "yes"}, r"\.active: expected bool, got str 'yes'"),
        ({"key": ["nope"]}, r"\.key: column 'nope' is not in the schema"),
        ({"checks": {"max_null_fraction": {"amount": 2}}}, r"\.checks\.max_null_fraction\.amount: expected a schema column with a fraction"),
        ({"checks": {"ranges": {"id": {"min": 0}}}}, r"\.checks\.ranges\.id: ranges apply to numeric schema columns"),
        ({"aggregates": [{"name": "by_id", "metrics": [{"agg": "median", "column": "amount"}]}]}, r"aggregates\[0\]\.metrics\[0\]\.agg: unknown metric 'median'"),
        ({"aggregates": [{"name": "by_id", "metrics": [{"agg": "sum"}]}]}, r"metrics\[0\]\.column: metric 'sum' needs a column"),
        ({"aggregates": [{"name": "by_id", "metrics": [{"agg": "sum", "column": "id"}]}]}, r"sum needs a numeric column, 'id' is 'string'"),
        ({"aggregates": [{"name": "x", "group_by": ["shop"], "metrics": [{"agg": "count"}]}]}, r"aggregates\[0\]\.group_by: column 'shop' is not in the schema"),
        ({"fetch_cron": "daily"}, r"\.fetch_cron: expected a 5-field cron expression"),
        ({"end_date": "2023-12-31"}, r"\.end_date: the last day with data must not be before start_date"),
    ],
)
def test_bad_source_errors_name_file_key_and_expectation(tmp_path, overrides, expected):
    path = write_registry(tmp_path, [source(**overrides)])
    with pytest.raises(RegistryError, match=expected) as error:
        load_registry_file(path)
    assert str(path) in str(error.value)


def test_bad_documents(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("sources: [unclosed")
    with pytest.raises(RegistryError, match=r"broken.yaml: not valid YAML"):
        load_registry_file(broken)
    listless = tmp_path / "listless.yaml"
    listless.write_text("sources: {a: 1}")
    with pytest.raises(RegistryError, match=r"listless.yaml: \.sources: expected list, got dict"):
        load_registry_file(listless)
    with pytest.raises(RegistryError, match=r"missing.yaml: registry file not found"):
        load_registry_file(tmp_path / "missing.yaml")


def test_duplicate_names_across_files_name_both(tmp_path):
    first = write_registry(tmp_path, [source()], name="first.yaml")
    second = write_registry(tmp_path, [source()], name="second.yaml")
    with pytest.raises(RegistryError, match=r"second.yaml: source 'shop_sales' is already declared in .*first.yaml"):
        load_registry([first, second])
