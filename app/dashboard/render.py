"""Templates: a Jinja environment with autoescape on, the filters pages use, and the page response."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template.config import TemplateConfig

from app.dashboard.auth import Viewer, shown_notice

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")
NAV = [("overview", "Overview", "/dashboard"), ("tasks", "Tasks", "/dashboard/tasks"),
       ("runs", "Workflow runs", "/dashboard/runs"), ("workflows", "Workflows", "/dashboard/workflows"),
       ("events", "Events", "/dashboard/events"), ("schedules", "Schedules", "/dashboard/schedules")]


def when(value: datetime | str | None) -> str:
    """A timestamp as ``2026-11-29 15:04:05Z``; empty for none."""
    if value is None or value == "":
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"], default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = when
    env.globals["nav"] = NAV
    return env


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment()))


def page(name: str, viewer: Viewer | None, section: str, status_code: int = 200, **context: Any) -> Template:
    shown = [shown_notice()] if viewer is not None and viewer.notice else None
    return Template(template_name=name, status_code=status_code, cookies=shown,
                    context={"viewer": viewer, "section": section, **context})
