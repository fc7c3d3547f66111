"""The one message plane: every producer enqueues tasks and publishes events through it."""
