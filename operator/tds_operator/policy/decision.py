"""A policy's outcome, and the chain that runs policies until one denies (cert-manager's shape)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar


@dataclass(frozen=True)
class Decision:
    """The outcome of one policy: allowed or not, with the reason and message a user sees."""

    allowed: bool
    reason: str
    message: str

    @classmethod
    def allow(cls, reason: str, message: str) -> Decision:
        return cls(True, reason, message)

    @classmethod
    def deny(cls, reason: str, message: str) -> Decision:
        return cls(False, reason, message)


PolicySubject = TypeVar("PolicySubject")


def first_failing(
    policies: Sequence[Callable[[PolicySubject], Decision]],
    subject: PolicySubject,
    otherwise: Decision,
) -> Decision:
    """The decision of the first policy that denies, or `otherwise` when all of them allow."""
    for policy in policies:
        decision = policy(subject)
        if not decision.allowed:
            return decision
    return otherwise
