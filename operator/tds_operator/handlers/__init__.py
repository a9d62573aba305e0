"""Thin kopf handlers: read -> decide (policy) -> build (desired) -> apply -> status."""
