"""RFC 3339 times as Kubernetes writes them: UTC with a `Z`. One home for every format we use."""

from __future__ import annotations

from datetime import UTC, datetime


def format_seconds(at: datetime) -> str:
    """Whole seconds, as Kubernetes writes metav1.Time (conditions, status times, Events)."""
    return at.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def format_precise(at: datetime) -> str:
    """Microseconds when there are any, else whole seconds (the audit ledger keeps the order of
    events within one second); a time without a zone is refused."""
    if at.tzinfo is None:
        raise ValueError("times must carry a time zone")
    timespec = "microseconds" if at.microsecond else "seconds"
    return at.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def parse(text: str | None) -> datetime | None:
    """The instant an RFC 3339 string names (None for none)."""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
