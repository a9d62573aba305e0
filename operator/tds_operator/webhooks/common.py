"""What every admission webhook shares: the refusal that names its reason, and the metrics."""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any

import kopf

from tds_operator.metrics import (
    WEBHOOK_DENIALS,
    WEBHOOK_LATENCY,
    WEBHOOK_REQUESTS,
)


class Refusal(kopf.AdmissionError):
    """An admission refused for a reason the API names; the message starts with the reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}", code=403)
        self.reason = reason


def deny(reason: str, message: str) -> Refusal:
    return Refusal(reason, message)


AdmissionHandler = Callable[..., Awaitable[None]]


def measured(kind: str, handler: AdmissionHandler) -> AdmissionHandler:
    """`handler`, counted and timed per kind, operation and result; refusals by reason."""

    @functools.wraps(handler)
    async def answer(**kwargs: Any) -> None:
        operation = str(kwargs.get("operation") or "")
        started = time.perf_counter()
        result = "error"
        try:
            await handler(**kwargs)
            result = "allowed"
        except kopf.AdmissionError as refusal:
            result = "denied"
            reason = getattr(refusal, "reason", "Refused")
            WEBHOOK_DENIALS.labels(kind=kind, operation=operation, reason=reason).inc()
            raise
        finally:
            WEBHOOK_REQUESTS.labels(kind=kind, operation=operation, result=result).inc()
            WEBHOOK_LATENCY.labels(kind=kind, operation=operation).observe(
                time.perf_counter() - started
            )

    return answer
