"""Every ODF setting is a field of one pydantic-settings model; any invalid value fails with one line
that names the variable, shows the value (credentials redacted) and says what is expected. The cases
are generated from the model's fields, so a setting added later is tried the same way."""

from __future__ import annotations

import typing

import annotated_types
import pytest

from odf_resources import settings
from odf_resources.settings import OdfSettings, SettingsError, variable_name
from odf_resources.settings.errors import _base_annotation


def invalid_values(name: str) -> list[str]:
    """Values the field ``name`` must refuse, derived from its type and bounds."""
    info = OdfSettings.model_fields[name]
    annotation = _base_annotation(info.annotation)
    if typing.get_origin(annotation) is typing.Literal:
        return ["not-a-choice"]
    if annotation is bool:
        return ["maybe"]
    if annotation in (int, float):
        values = ["abc", "1.5e999999" if annotation is float else "1.5"]
        for item in info.metadata:
            if (low := getattr(item, "gt", None)) is not None:
                values.append(str(low))
            if (low := getattr(item, "ge", None)) is not None:
                values.append(str(low - 1))
            if (high := getattr(item, "le", None)) is not None:
                values.append(str(high * 2))
        return values
    if annotation is str:
        values = []
        for item in info.metadata:
            if isinstance(item, annotated_types.MaxLen):
                values.append("a" * (item.max_length + 1))
            if getattr(item, "pattern", None):
                values.append("not valid/@ \x01")
        return values
    return []


CASES = [(name, value) for name in OdfSettings.model_fields for value in invalid_values(name)]


def test_every_setting_is_typed_bounded_and_documented():
    for name, info in OdfSettings.model_fields.items():
        assert info.description, f"{variable_name(name)} has no description"
        assert invalid_values(name), f"{variable_name(name)} accepts anything: give it a type with bounds"


@pytest.mark.parametrize(("name", "value"), CASES, ids=[f"{variable_name(n)}={v[:12]!r}" for n, v in CASES])
def test_an_invalid_value_fails_in_one_line_naming_the_variable(monkeypatch, name, value):
    variable = variable_name(name)
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as raised:
        settings.current()
    message = str(raised.value)
    assert "\n" not in message and len(message) < 1_000, message
    assert message.startswith(f"{variable}={repr(value.strip())[:20]}"), message
    assert ": expected " in message, message


def test_defaults_hold_and_unset_or_empty_variables_keep_them(monkeypatch):
    for name in OdfSettings.model_fields:
        monkeypatch.setenv(variable_name(name), "")
    assert settings.current() == OdfSettings.model_construct()
    assert settings.retry_delay_seconds() == 10.0 and settings.storage_uri() == "./.odf/storage"


def test_variable_names_are_read_in_any_case_and_other_variables_are_ignored(monkeypatch):
    monkeypatch.setenv("odf_pipeline_owner", "team:lower")
    monkeypatch.setenv("Odf_Retry_Delay_Seconds", "3")
    monkeypatch.setenv("ODF_NOT_A_SETTING", "ignored")
    assert settings.pipeline_owner() == "team:lower" and settings.retry_delay_seconds() == 3.0


def test_issue_examples(monkeypatch):
    monkeypatch.setenv("ODF_RETRY_DELAY_SECONDS", "abc")
    with pytest.raises(ValueError, match=r"^ODF_RETRY_DELAY_SECONDS='abc': expected a number of seconds ≥ 0"):
        settings.retry_delay_seconds()
    monkeypatch.setenv("ODF_RETRY_DELAY_SECONDS", "-5")
    with pytest.raises(ValueError, match=r"^ODF_RETRY_DELAY_SECONDS='-5': expected a number of seconds ≥ 0"):
        settings.retry_delay_seconds()
    monkeypatch.setenv("ODF_RETRY_DELAY_SECONDS", " 2.5 ")
    assert settings.retry_delay_seconds() == 2.5
    monkeypatch.setenv("ODF_SCHEDULES_DEFAULT_STATUS", "RUNNING")
    assert settings.schedules_default_running()


def test_credentials_in_invalid_values_are_redacted(monkeypatch):
    token = "T0KEN-abcdefghijklmnopqrstuvwxyz"
    monkeypatch.setenv("ODF_ALERT_WEBHOOK_URL", f"ftp://hooks.example.org/services/{token}")
    with pytest.raises(SettingsError) as raised:
        settings.current()
    assert "ODF_ALERT_WEBHOOK_URL='ftp://hooks.example.org…': expected an http(s):// URL" in str(raised.value)
    assert token not in str(raised.value)
    monkeypatch.delenv("ODF_ALERT_WEBHOOK_URL")
    monkeypatch.setenv("ODF_STORAGE", "s3://user:pa55word@bucket/" + "p" * 5000)
    with pytest.raises(SettingsError) as raised:
        settings.current()
    assert "pa55word" not in str(raised.value) and str(raised.value).startswith("ODF_STORAGE='s3://…@bucket/")


def test_the_cli_reports_an_invalid_setting_in_one_line_and_exits_2(monkeypatch, capsys):
    from odf_cli.main import main

    monkeypatch.setenv("ODF_DAGSTER_URL", "localhost:3000")  # read while the parser is built
    assert main(["status", "run-1"]) == 2
    assert capsys.readouterr().err.splitlines() == ["odf: ODF_DAGSTER_URL='localhost:3000': expected an http(s):// URL"]
    monkeypatch.delenv("ODF_DAGSTER_URL")
    monkeypatch.setenv("ODF_RETRY_DELAY_SECONDS", "-5")  # read once the command starts
    assert main(["status", "run-1"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("odf status: ODF_RETRY_DELAY_SECONDS='-5': expected a number"), err


def test_cli_help_loads_neither_pydantic_settings_nor_the_model():
    import os
    import subprocess
    import sys

    code = (
        "import sys\nfrom odf_cli.main import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('pydantic_settings', 'odf_resources.settings.model'))))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ODF_")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.splitlines()[-1] == "[]", done.stdout[-500:]
