"""Fixtures and settings shared by every test tier."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

# The machines are small and shared: property tests judge correctness, never speed, so neither
# a slow example nor slow input generation may fail them.
settings.register_profile("project", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("project")
