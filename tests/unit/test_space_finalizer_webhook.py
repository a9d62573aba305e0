"""The mutating webhook that gives a new DataSpace the operator's finalizer: added once, next to
the finalizers the request gives, never twice."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf
import pytest

from tds_operator.webhooks import add_space_finalizer

pytestmark = pytest.mark.unit

FINALIZER = "tds.io/finalizer"


def mutation(metadata: dict[str, Any]) -> dict[str, Any]:
    """The patch the webhook answers for a DataSpace with this metadata."""
    body = kopf.Body({"apiVersion": "tds.io/v1alpha1", "kind": "DataSpace", "metadata": metadata})
    patch = kopf.Patch()
    asyncio.run(add_space_finalizer(body=body, patch=patch))
    return dict(patch)


def test_a_new_space_gets_the_operators_finalizer() -> None:
    assert mutation({"name": "acme"}) == {"metadata": {"finalizers": [FINALIZER]}}


def test_the_finalizers_a_request_gives_are_kept_and_the_operators_is_not_added_twice() -> None:
    given = {"name": "acme", "finalizers": ["example.com/keep"]}
    assert mutation(given) == {"metadata": {"finalizers": ["example.com/keep", FINALIZER]}}
    assert mutation({"name": "acme", "finalizers": [FINALIZER]}) == {}
