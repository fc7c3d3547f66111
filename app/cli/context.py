"""What every `flowplane` command shares: the settings, loaded once and only when a command needs them."""

import json
from pathlib import Path

import click

from app.config import Settings, load_settings


class CliContext:
    def __init__(self, config_path: Path | None) -> None:
        self.config_path = config_path
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_path)
        return self._settings


pass_context = click.make_pass_decorator(CliContext)


def echo_json(value: object) -> None:
    click.echo(json.dumps(value, indent=2, default=str, ensure_ascii=False))
