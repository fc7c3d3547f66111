"""Cron schedules: files in schedules/, validated, hot-reloaded, each tick fired once across replicas."""
