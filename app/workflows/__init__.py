"""Declarative workflows: files in workflows/, validated, hot-reloaded, run durably on the plane."""
