"""Business rules with no I/O: nothing in here imports the rest of the application."""
