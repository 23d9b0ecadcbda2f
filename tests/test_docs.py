"""The configuration docs cover every setting, and .env.example is a valid config."""

from __future__ import annotations

import re

from config import Settings
from tests.conftest import ROOT

SETTING_NAMES = {name.upper() for name in Settings.model_fields}


def test_readme_configuration_table_lists_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", table, flags=re.M))
    assert documented == SETTING_NAMES


def test_env_example_lists_every_setting_and_loads() -> None:
    path = ROOT / ".env.example"
    names = {line.split("=", 1)[0] for line in path.read_text().splitlines() if "=" in line}
    assert names == SETTING_NAMES
    settings = Settings(_env_file=path)
    assert settings.port == 8080
    assert settings.database_url == "chatbot.db"
