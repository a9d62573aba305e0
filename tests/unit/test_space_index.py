"""The index of DataSpaces a reconcile starts from instead of reading the space: newest version
wins, the operator's own writes are no news, a deleted space stays gone."""

from __future__ import annotations

from typing import Any

import pytest

from tds_operator.handlers.known_spaces import SpaceIndex

pytestmark = pytest.mark.unit


def space(version: str, uid: str = "u1", **status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "tds.io/v1alpha1",
        "kind": "DataSpace",
        "metadata": {
            "name": "acme",
            "uid": uid,
            "resourceVersion": version,
            "managedFields": [{"manager": "tds-operator"}],
        },
        "status": status,
    }


def version_held(index: SpaceIndex) -> str | None:
    body = index.get("acme")
    return None if body is None else body["metadata"]["resourceVersion"]


def test_the_event_of_the_operators_own_write_is_no_news_but_a_change_by_someone_else_is() -> None:
    index = SpaceIndex()
    assert index.observe(space("5"), False)
    index.wrote(space("6", phase="Ready"))
    assert index.observe(space("6", phase="Ready"), False) is False
    assert index.observe(space("7"), False)
    held = index.get("acme")
    assert held is not None
    assert "managedFields" not in held["metadata"]


def test_an_older_version_never_replaces_a_newer_one() -> None:
    index = SpaceIndex()
    index.observe(space("9"), False)
    index.wrote(space("8"))  # the answer to a write, arriving after a later event
    index.fill([space("3")])  # a LIST older than the events
    assert version_held(index) == "9"


def test_a_space_made_again_under_the_same_name_replaces_the_old_one() -> None:
    index = SpaceIndex()
    index.observe(space("9", uid="old"), False)
    index.observe(space("4", uid="new"), False)
    assert version_held(index) == "4"


def test_a_deleted_space_is_not_brought_back_by_a_late_answer_or_list() -> None:
    index = SpaceIndex()
    index.observe(space("5"), False)
    assert index.observe(space("6"), True)
    index.wrote(space("6"))
    index.fill([space("5")])
    assert index.get("acme") is None


def test_a_version_refused_as_stale_is_forgotten() -> None:
    index = SpaceIndex()
    index.observe(space("5"), False)
    index.forget("acme")
    assert index.get("acme") is None
