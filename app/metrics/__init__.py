"""Prometheus metrics read at scrape time from shared state, on resources of their own (see README, Metrics)."""

from app.metrics.collector import FlowplaneCollector, make_collector

__all__ = ["FlowplaneCollector", "make_collector"]
