"""What every `flowplane` command shares: the settings, loaded once and only when a command needs them."""

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from app.config import Settings, load_settings

if TYPE_CHECKING:
    from app.bootstrap import Container


class CliContext:
    def __init__(self, config_path: Path | None) -> None:
        self.config_path = config_path
        self._settings: Settings | None = None
        self._container: Container | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_path)
        return self._settings

    @property
    def container(self) -> "Container":
        """The application, built on first use and closed when the command ends."""
        if self._container is None:
            from app.bootstrap import build

            self._container = build(self.settings)
            click.get_current_context().call_on_close(self._container.close)
        return self._container


pass_context = click.make_pass_decorator(CliContext)


def echo_json(value: object) -> None:
    click.echo(json.dumps(value, indent=2, default=str, ensure_ascii=False))
