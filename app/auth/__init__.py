"""Credentials: password hashing, login tokens and the account use cases built on them."""
