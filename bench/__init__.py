"""`just bench`: the task plane measured against raw Huey and Celery on the same Redis, in one run."""
