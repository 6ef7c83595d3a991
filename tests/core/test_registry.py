"""Registry parsing: the bundled file is valid; bad files fail naming the file, key and expectation."""

import re
from datetime import date

import pytest
import yaml

from odf_assets.sources.registry import DEFAULT_REGISTRY, RegistryError, load_registry, load_registry_file
from odf_assets.sources.registry.yaml_loading import read_yaml
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
    assert sales.decimals == {"sale_dollars": 2, "sale_liters": 2, "state_bottle_retail": 2}


def test_valid_template_source_and_relative_paths(tmp_path):
    spec = load_registry_file(write_registry(tmp_path, [source(url_template="data/{date}.csv")]))[0]
    assert spec.url_for("2024-02-03") == (tmp_path / "data" / "2024-02-03.csv").as_uri()


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"format": "xlsx"}, r"sources\[0\] \(shop_sales\)\.format: unknown format 'xlsx'"),
        ({"schema": {"id": "decimal"}}, r"\.schema\.id: unknown type 'decimal'"),
        ({"colour": "red"}, r"sources\[0\] \(shop_sales\)\.colour: unknown key \(expected one of"),
        ({"descripton": "x"}, r"\.descripton: unknown key \(expected one of .*\); did you mean 'description'\?"),
        ({"name": "Shop Sales"}, r"sources\[0\]\.name: 'Shop Sales' must be lowercase"),
        ({"description": None}, r"\.description: is required"),
        ({"start_date": "yesterday"}, r"\.start_date: expected a date YYYY-MM-DD, got 'yesterday'"),
        ({"url": "http://x/all.csv"}, r"set exactly one of 'url_template'"),
        ({"url_template": None, "url": "http://x/all.csv"}, r"\.date_column: is required with 'url'"),
        (
            {"url_template": None, "url": "http://x/a.csv", "date_column": "amount"},
            r"\.date_column: must be a schema column of type date",
        ),
        ({"url_template": "http://x/all.csv"}, r"\.url_template: must contain \{date\}"),
        ({"active": "yes"}, r"\.active: expected bool, got str 'yes'"),
        ({"key": ["nope"]}, r"\.key: column 'nope' is not in the schema"),
        (
            {"checks": {"max_null_fraction": {"amount": 2}}},
            r"\.checks\.max_null_fraction\.amount: expected a schema column with a fraction",
        ),
        ({"checks": {"ranges": {"id": {"min": 0}}}}, r"\.checks\.ranges\.id: ranges apply to numeric schema columns"),
        (
            {"aggregates": [{"name": "by_id", "metrics": [{"agg": "median", "column": "amount"}]}]},
            r"aggregates\[0\]\.metrics\[0\]\.agg: unknown metric 'median'",
        ),
        (
            {"aggregates": [{"name": "by_id", "metrics": [{"agg": "sum"}]}]},
            r"metrics\[0\]\.column: metric 'sum' needs a column",
        ),
        (
            {"aggregates": [{"name": "by_id", "metrics": [{"agg": "sum", "column": "id"}]}]},
            r"sum needs a numeric column, 'id' is 'string'",
        ),
        (
            {"aggregates": [{"name": "x", "group_by": ["shop"], "metrics": [{"agg": "count"}]}]},
            r"aggregates\[0\]\.group_by: column 'shop' is not in the schema",
        ),
        ({"decimals": {"id": 2}}, r"\.decimals\.id: expected a float64 schema column, 'id' is 'string'"),
        ({"decimals": {"amount": 2.5}}, r"\.decimals\.amount: expected a whole number of decimal places 0\.\.6"),
        ({"decimals": {"amount": 7}}, r"\.decimals\.amount: expected a whole number of decimal places 0\.\.6, got 7"),
        ({"decimals": {"amount": True}}, r"\.decimals\.amount: expected a whole number of decimal places 0\.\.6"),
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
    with pytest.raises(RegistryError, match=r"listless.yaml: sources: expected list, got dict"):
        load_registry_file(listless)
    with pytest.raises(RegistryError, match=r"missing.yaml: registry file not found"):
        load_registry_file(tmp_path / "missing.yaml")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("sources: []\n# café\n".encode("latin-1"))
    with pytest.raises(RegistryError, match=r"latin.yaml: not UTF-8 text \(byte 17\)"):
        load_registry_file(latin)


def test_duplicate_names_across_files_name_both(tmp_path):
    first = write_registry(tmp_path, [source()], name="first.yaml")
    second = write_registry(tmp_path, [source()], name="second.yaml")
    with pytest.raises(RegistryError, match=r"second.yaml: source 'shop_sales' is already declared in .*first.yaml"):
        load_registry([first, second])


def aggregate(name="by_shop", group_by=("id",), metrics=None):
    return {
        "name": name,
        "group_by": list(group_by),
        "metrics": metrics or [{"agg": "sum", "column": "amount", "name": "total"}],
    }


WHOLE_FILE = {"url_template": None, "url": "http://x/all.csv", "date_column": "date"}


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        # `date` is the partition column: a source column of that name would be overwritten.
        (
            {"schema": {"id": "string", "date": "string"}},
            r"sources\[0\] \(shop_sales\)\.schema\.date: 'date' is reserved for the partition column",
        ),
        (
            {**WHOLE_FILE, "schema": {"id": "string", "date": "datetime"}},
            r"sources\[0\] \(shop_sales\)\.schema\.date: 'date' is reserved",
        ),
        (
            {"schema": {"id": "string", "__odf_row": "int64"}},
            r"sources\[0\] \(shop_sales\)\.schema\.__odf_row: names starting with '__odf' are reserved",
        ),
        (
            {
                "aggregates": [
                    aggregate(metrics=[{"agg": "count", "name": "n"}, {"agg": "sum", "column": "amount", "name": "n"}])
                ]
            },
            r"sources\[0\] \(shop_sales\)\.aggregates\[0\]\.metrics\[1\]\.name: "
            r"'n' is already the name of metrics\[0\]",
        ),
        (
            {"aggregates": [aggregate(metrics=[{"agg": "count"}, {"agg": "count"}])]},  # both default to row_count
            r"\.aggregates\[0\]\.metrics\[1\]\.name: 'row_count' is already the name of metrics\[0\]",
        ),
        (
            {"aggregates": [aggregate(metrics=[{"agg": "count", "name": "id"}])]},
            r"sources\[0\] \(shop_sales\)\.aggregates\[0\]\.metrics\[0\]\.name: 'id' is already a group_by column",
        ),
        (
            {"aggregates": [aggregate(metrics=[{"agg": "max", "column": "day", "name": "date"}])]},
            r"\.aggregates\[0\]\.metrics\[0\]\.name: 'date' is already the partition column",
        ),
        (
            {"aggregates": [aggregate(metrics=[{"agg": "count", "name": "__odf_bad.x"}])]},
            r"\.aggregates\[0\]\.metrics\[0\]\.name: names starting with '__odf' are reserved",
        ),
        (
            {"aggregates": [aggregate(), aggregate(group_by=[])]},
            r"sources\[0\] \(shop_sales\)\.aggregates\[1\]\.name: 'by_shop' is already the name of aggregates\[0\]",
        ),
        # Five fields, but not a schedule Dagster accepts: minute 61, the 30th of February.
        (
            {"fetch_cron": "61 1 * * *"},
            r"sources\[0\] \(shop_sales\)\.fetch_cron: expected a 5-field cron expression that Dagster accepts",
        ),
        ({"fetch_cron": "0 0 30 2 *"}, r"sources\[0\] \(shop_sales\)\.fetch_cron: .* got '0 0 30 2 \*'"),
        ({"fetch_cron": "30 1 * * * *"}, r"\.fetch_cron: expected a 5-field cron expression"),
        ({"name": "shop_sales\n"}, r"sources\[0\]\.name: 'shop_sales\\n' must be lowercase"),
        (
            {"aggregates": [aggregate(metrics=[{"agg": "count", "column": []}])]},
            r"\.aggregates\[0\]\.metrics\[0\]\.column: expected one column, got \[\]",
        ),
    ],
)
def test_registry_refuses_collisions_naming_file_and_key_path(tmp_path, overrides, expected):
    path = write_registry(tmp_path, [source(**overrides)], name="collisions.yaml")
    with pytest.raises(RegistryError, match=expected) as error:
        load_registry_file(path)
    assert str(error.value).startswith(f"{path}: sources[0]")


def test_a_date_column_named_date_is_allowed_when_it_is_the_day_itself(tmp_path):
    # Iowa Liquor Sales names its day `date`: as the date_column, typed date, it equals the partition.
    spec = load_registry_file(
        write_registry(tmp_path, [source(**WHOLE_FILE, schema={"id": "string", "date": "date"})])
    )[0]
    assert spec.date_column == "date" and spec.schema["date"] == "date"


def test_new_metric_count_non_null_needs_a_column(tmp_path):
    path = write_registry(
        tmp_path, [source(aggregates=[aggregate(metrics=[{"agg": "count_non_null", "column": "amount"}])])]
    )
    assert load_registry_file(path)[0].aggregates[0].metrics[0].name == "amount_count_non_null"
    path = write_registry(tmp_path, [source(aggregates=[aggregate(metrics=[{"agg": "count_non_null"}])])])
    with pytest.raises(
        RegistryError, match=r"\.aggregates\[0\]\.metrics\[0\]\.column: metric 'count_non_null' needs a column"
    ):
        load_registry_file(path)


def test_a_key_written_twice_in_one_mapping_names_the_key_path_and_both_lines(tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text(
        "sources:\n"
        "  - name: shop_sales\n"
        "    format: csv\n"
        "    schema:\n"
        "      amount: float64\n"
        "      id: string\n"
        "      amount: int64\n"
    )
    with pytest.raises(RegistryError) as error:
        load_registry_file(path)
    assert str(error.value) == (
        f"{path}: sources[0] (shop_sales).schema.amount: key written twice in one mapping (lines 5 and 7); "
        "YAML would silently keep only the last"
    )
    top = tmp_path / "top.yaml"
    top.write_text("sources: []\nsources: []\n")
    with pytest.raises(RegistryError, match=r"top.yaml: sources: key written twice in one mapping \(lines 1 and 2\)"):
        load_registry_file(top)


@pytest.mark.parametrize(
    "text",
    [
        # Plain documents: built from the parser's events in one pass.
        "a: 1\nb: [1.5, .inf, ~, null, yes, on, 'on', 0x1f, 0o17, 1_000, '12', -.5, 1e3]\n"
        "c: {d: 2024-01-01, e: 2024-01-01 10:00:00, f: 2001-12-14t21:59:43.10-05:00}\n"
        'g: |\n  block\nh: >\n  folded\ni: "tab\\tx"\n1: one\nTrue: yes\n~: nothing\n',
        "",
        "---\n",
        "just text\n",
        # What SafeLoader's own composer and constructor build: tags, merge keys, several documents.
        "<<: {a: 1}\nb: 2\n",
        "a: !!str 12\nb: !!int '12'\nc: !!binary aGVsbG8=\nd: !!omap [{e: 1}]\n",
    ],
)
def test_registry_yaml_reads_as_safe_load(tmp_path, text):
    path = tmp_path / "doc.yaml"
    path.write_text(text)
    assert read_yaml(path) == yaml.safe_load(text)
    assert repr(read_yaml(path)) == repr(yaml.safe_load(text))  # the same types and key order


def test_yaml_anchors_and_aliases_are_refused_before_anything_expands(tmp_path):
    # The "billion laughs": nine levels of nine aliases, 9^9 strings once expanded, in 354 bytes.
    levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        levels.append(f"{name}: &{name} [{','.join([f'*{previous}'] * 9)}]")
    text = "\n".join(levels) + "\nsources: *i\n"
    assert len(text.encode()) < 456
    laughs = tmp_path / "laughs.yaml"
    laughs.write_text(text)
    with pytest.raises(RegistryError, match=r"laughs.yaml: line 1: YAML anchors and aliases .* are not allowed"):
        load_registry_file(laughs)
    # A harmless-looking anchor is refused too: registries never need one.
    anchored = tmp_path / "anchored.yaml"
    anchored.write_text("sources:\n  - &shop {name: shop_sales}\n  - *shop\n")
    with pytest.raises(RegistryError, match=r"anchored.yaml: line 2: YAML anchors and aliases"):
        load_registry_file(anchored)


def test_quoted_values_and_key_paths_in_errors_are_capped(tmp_path):
    huge = "x" * 300_000
    cases = [
        ({"format": huge}, ".format: unknown format 'xxx"),
        ({"schema": {huge: "decimal"}}, ".schema.xxx"),
        ({huge: 1}, "sources[0] (shop_sales).xxx"),
    ]
    for overrides, key in cases:
        path = write_registry(tmp_path, [source(**overrides)])
        with pytest.raises(RegistryError) as error:
            load_registry_file(path)
        message = str(error.value)
        assert key in message and len(message) < 1_000 and re.search(r"… \(3000\d\d characters\)", message), message[
            :1_000
        ]
