"""The chaos campaign's bounds and knobs: read from the environment, and refused with the
variable's name when they cannot mean anything."""

from __future__ import annotations

import pytest

from bench.chaos.bounds import DEFAULT, LEASE_SECONDS, BoundError, Bounds
from bench.chaos.prepare import KnobError, Knobs

pytestmark = pytest.mark.unit


def test_the_defaults_are_the_documented_bounds() -> None:
    assert (DEFAULT.lag, DEFAULT.takeover) == (10.0, 8.0)
    assert Bounds.from_environment({}) == DEFAULT


def test_lag_and_takeover_come_from_the_environment() -> None:
    bounds = Bounds.from_environment({"LAG_BOUND": "12.5", "TAKEOVER_BOUND": "6"})
    assert (bounds.lag, bounds.takeover) == (12.5, 6.0)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"LAG_BOUND": "ten"}, "LAG_BOUND"),
        ({"LAG_BOUND": "0"}, "LAG_BOUND"),
        ({"TAKEOVER_BOUND": "-1"}, "TAKEOVER_BOUND"),
        ({"TAKEOVER_BOUND": "nan"}, "TAKEOVER_BOUND"),
        ({"TAKEOVER_BOUND": str(LEASE_SECONDS)}, "TAKEOVER_BOUND"),
    ],
)
def test_a_bound_that_cannot_hold_is_refused_naming_it(env: dict[str, str], named: str) -> None:
    with pytest.raises(BoundError, match=named):
        Bounds.from_environment(env)


def test_a_tolerance_must_be_positive() -> None:
    with pytest.raises(BoundError, match="metering_per_pod"):
        Bounds(metering_per_pod=0)


def test_knobs_from_the_environment() -> None:
    knobs = Knobs.from_environment(
        {"KILLS": "5", "DURATION": "120", "SEED": "7", "LAG_BOUND": "11"}
    )
    assert (knobs.kills, knobs.duration, knobs.seed, knobs.churn) == (5, 120.0, 7, 3)
    assert knobs.bounds.lag == 11.0


@pytest.mark.parametrize(
    ("env", "named"),
    [({"KILLS": "many"}, "KILLS"), ({"SPACES": "1"}, "SPACES"), ({"DURATION": "-5"}, "DURATION")],
)
def test_a_bad_knob_is_refused_naming_it(env: dict[str, str], named: str) -> None:
    with pytest.raises(KnobError, match=named):
        Knobs.from_environment(env)
