"""Every bound the chaos campaign judges by, in one place, checked when it is read.

The invariants (`judge.py`) take their tolerances from here; `LAG_BOUND` and `TAKEOVER_BOUND`
may be set from the environment (`make chaos LAG_BOUND=...`), and a value that cannot mean
anything stops the campaign before it starts, naming the variable.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Final

LEASE_SECONDS: Final = 4.0
"""The leader Lease's duration: no standby may take over sooner, so no takeover bound below it
can hold."""


class BoundError(ValueError):
    """A bound that cannot be judged by."""


@dataclass(frozen=True)
class Bounds:
    """What the campaign's invariants allow, in seconds."""

    lag: float = 10.0
    """A job's phase reported, and its pods stopped, at most this many served seconds after its
    contract's end (`LAG_BOUND`)."""
    takeover: float = 8.0
    """A standby leads at most this many seconds after the leader's SIGKILL, not counting the
    seconds the API server was down (`TAKEOVER_BOUND`)."""
    phase_margin: float = 3.0
    """A contract that ended this close to a job's natural end may have stopped it or let it
    finish."""
    metering_per_pod: float = 1.0
    """Per pod: its metered run time may differ from its own timestamps by this much."""
    budget_overrun: float = 1.0
    """An exhausted contract meters at most its budget plus this many seconds of the GPUs its
    jobs hold (plus the seconds the API server was down after the budget's second)."""
    usage_rounding: float = 0.01
    """Usage is written in GPU-hours with six decimals (0.0036 GPU-seconds): sums agree within
    this."""

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise BoundError(f"bound {field.name} must be a positive number, not {value!r}")
        if self.takeover <= LEASE_SECONDS:
            raise BoundError(
                f"TAKEOVER_BOUND {self.takeover:g} s cannot hold: no standby may take over before "
                f"the leader's Lease of {LEASE_SECONDS:g} s runs out"
            )

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> Bounds:
        """The defaults, with `LAG_BOUND` and `TAKEOVER_BOUND` from the environment if set."""
        defaults = cls()
        return cls(
            lag=_seconds(env, "LAG_BOUND", defaults.lag),
            takeover=_seconds(env, "TAKEOVER_BOUND", defaults.takeover),
        )


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise BoundError(f"{name} must be a number of seconds, not {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise BoundError(f"{name} must be a positive number of seconds, not {text!r}")
    return value


DEFAULT: Final = Bounds()
"""The bounds every run is judged by unless the environment sets the lag's or takeover's."""
