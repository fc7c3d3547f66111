"""Prometheus metrics read at scrape time from shared state, on resources of their own (docs/metrics.md)."""

from app.metrics.collector import FlowplaneCollector, make_collector

__all__ = ["FlowplaneCollector", "make_collector"]
