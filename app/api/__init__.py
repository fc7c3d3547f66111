"""The HTTP API (Litestar): routes parse input, call one use case and map its result."""
