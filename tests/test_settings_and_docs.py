"""One settings table, every setting documented, generated docs up to date."""

from __future__ import annotations

from pathlib import Path

import pytest

from reelsight import docgen
from reelsight.settings import SETTINGS, SettingError, check_table_matches_dataclass, load_settings

ROOT = Path(__file__).resolve().parent.parent


def test_table_and_dataclass_agree() -> None:
    check_table_matches_dataclass()


def test_environment_then_overrides() -> None:
    s = load_settings({"REELSIGHT_DB": "data/x.db", "REELSIGHT_PORT": "9000"}, {"port": 9100, "host": None})
    assert s.db == "data/x.db"
    assert s.port == 9100
    assert s.host == "127.0.0.1"


@pytest.mark.parametrize(("env", "value"), [("REELSIGHT_PORT", "eighty"), ("REELSIGHT_RETENTION_DAYS", "-1")])
def test_bad_setting_values_are_refused(env: str, value: str) -> None:
    with pytest.raises(SettingError, match=env):
        load_settings({env: value})


@pytest.mark.parametrize("name", sorted(docgen.FILES))
def test_generated_docs_are_up_to_date(name: str) -> None:
    text = (ROOT / docgen.FILES[name]).read_text()
    assert docgen.render(text, name) == text, "run: python -m reelsight.docgen"


def test_every_setting_is_documented() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    for s in SETTINGS:
        assert f"`{s.env_var}`" in text
        assert s.help in text


def test_ingest_json_schema_is_up_to_date() -> None:
    assert (ROOT / docgen.SCHEMA_FILE).read_text() == docgen.ingest_schema(), "run: python -m reelsight.docgen"
