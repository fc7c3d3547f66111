"""Flowplane: declarative business workflows on one message plane."""
