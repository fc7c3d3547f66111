"""The task side of the plane: Huey with leases, so a task outlives the worker that took it."""
