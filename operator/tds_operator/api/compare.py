"""Pure comparisons of a desired manifest with the live object the API server returned: whether
a write would change anything, and the parts of either that a comparison reads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubernetes.utils.quantity import parse_quantity

from tds_operator.api.resources import Manifest


def is_subset(desired: Any, live: Any) -> bool:
    """Whether every field set in `desired` has the same value in `live` (defaults may be extra)."""
    if isinstance(desired, Mapping):
        return isinstance(live, Mapping) and all(
            (key in live or value == []) and is_subset(value, live.get(key))
            for key, value in desired.items()
        )
    if isinstance(desired, list):
        if not desired and live is None:
            return True  # the API server stores an empty list as null or leaves it out
        return (
            isinstance(live, list)
            and len(desired) == len(live)
            and all(is_subset(d, v) for d, v in zip(desired, live, strict=True))
        )
    if desired == live:
        return True
    return isinstance(desired, str) and isinstance(live, str) and _same_quantity(desired, live)


def _same_quantity(desired: str, live: str) -> bool:
    """The API server stores quantities in canonical form ("0.5" comes back as "500m")."""
    try:
        return bool(parse_quantity(desired) == parse_quantity(live))  # type: ignore[no-untyped-call]
    except ValueError:
        return False


def without_managed_fields(body: Manifest) -> Manifest:
    """The object without managedFields, which no comparison reads and which dwarf the rest."""
    metadata = {k: v for k, v in body["metadata"].items() if k != "managedFields"}
    return {**body, "metadata": metadata}


def comparable(manifest: Manifest) -> Manifest:
    """The part of a desired manifest that a live object can be compared with."""
    return {key: value for key, value in manifest.items() if key not in ("apiVersion", "kind")}
