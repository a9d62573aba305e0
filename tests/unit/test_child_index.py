"""The index of spaces' children: what a reconcile compares with instead of reading each child,
and how it tells the events of the operator's own writes from someone else's change."""

from __future__ import annotations

from typing import Any

import pytest

from tds_operator.handlers.children import ChildIndex, OwnWrites, ensure_child, space_of_child

pytestmark = pytest.mark.unit

NAMESPACE = ("v1", "Namespace")
QUOTA = ("v1", "ResourceQuota")
ROLE = ("rbac.authorization.k8s.io/v1", "Role")


def child(kind: tuple[str, str], name: str, version: str = "1", **fields: Any) -> dict[str, Any]:
    metadata = {
        "name": name,
        "resourceVersion": version,
        "labels": {"app.kubernetes.io/managed-by": "tds-operator", "tds.io/space": "acme"},
        "managedFields": [{"manager": "tds-operator"}],
    }
    if kind != NAMESPACE:
        metadata["namespace"] = "tds-space-acme"
    return {"apiVersion": kind[0], "kind": kind[1], "metadata": metadata, **fields}


def desired(kind: tuple[str, str], name: str, **fields: Any) -> dict[str, Any]:
    body = child(kind, name, **fields)
    del body["metadata"]["resourceVersion"], body["metadata"]["managedFields"]
    return body


class RecordingKube:
    """Stands in for the API: answers GETs from `live`, records every request."""

    def __init__(self, live: dict[str, Any] | None = None) -> None:
        self.live = live
        self.requests: list[str] = []

    async def get(self, api_version: str, kind: str, name: str, namespace: str | None) -> Any:
        self.requests.append(f"get {kind}/{name}")
        return self.live

    async def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(f"apply {manifest['kind']}/{manifest['metadata']['name']}")
        answer = child((manifest["apiVersion"], manifest["kind"]), manifest["metadata"]["name"])
        answer["metadata"]["resourceVersion"] = "7"
        return {**manifest, "metadata": answer["metadata"]}


def test_the_event_of_the_operators_own_write_is_no_news_but_a_change_by_someone_else_is() -> None:
    index = ChildIndex([QUOTA])
    index.wrote(child(QUOTA, "quota", "5", spec={"hard": {"pods": "50"}}))
    assert index.observe(child(QUOTA, "quota", "5", spec={"hard": {"pods": "50"}}), False) is False
    assert index.observe(child(QUOTA, "quota", "6", spec={"hard": {"pods": "500"}}), False)
    assert index.get(("v1", "ResourceQuota", "tds-space-acme", "quota"))["spec"] == {  # type: ignore[index]
        "hard": {"pods": "500"}
    }


def test_a_deleted_child_is_news_and_leaves_the_index() -> None:
    index = ChildIndex([QUOTA])
    index.wrote(child(QUOTA, "quota", "5"))
    assert index.observe(child(QUOTA, "quota", "5"), True)
    assert index.get(("v1", "ResourceQuota", "tds-space-acme", "quota")) is None
    assert index.of_space("acme", "ResourceQuota") == []


def test_the_index_keeps_no_managed_fields_and_finds_children_by_space_and_kind() -> None:
    index = ChildIndex([QUOTA, NAMESPACE])
    index.fill([child(QUOTA, "quota"), child(NAMESPACE, "tds-space-acme")])
    (quota,) = index.of_space("acme", "ResourceQuota")
    assert "managedFields" not in quota["metadata"]
    assert index.of_space("other", "ResourceQuota") == []


def test_a_list_does_not_replace_what_an_event_delivered_since() -> None:
    index = ChildIndex([QUOTA])
    index.observe(child(QUOTA, "quota", "9", spec={"hard": {"pods": "1"}}), False)
    index.fill([child(QUOTA, "quota", "8", spec={"hard": {"pods": "50"}})])
    assert (
        index.get(("v1", "ResourceQuota", "tds-space-acme", "quota"))["metadata"][  # type: ignore[index]
            "resourceVersion"
        ]
        == "9"
    )


def test_writes_of_unwatched_kinds_are_not_kept_nothing_would_tell_of_their_drift() -> None:
    index = ChildIndex([QUOTA])
    index.wrote(child(ROLE, "ledger-readers"))
    assert (
        index.get(("rbac.authorization.k8s.io/v1", "Role", "tds-space-acme", "ledger-readers"))
        is None
    )


def test_own_writes_recognise_the_last_few_versions_of_one_object() -> None:
    writes = OwnWrites()
    for version in ("1", "2", "3", "4", "5"):
        writes.wrote(child(QUOTA, "quota", version))
    assert not writes.is_echo(child(QUOTA, "quota", "1"))
    assert all(writes.is_echo(child(QUOTA, "quota", v)) for v in ("2", "3", "4", "5"))
    assert not writes.is_echo(child(QUOTA, "other", "5"))


def test_only_children_the_operator_made_for_a_space_name_it() -> None:
    assert space_of_child(child(QUOTA, "quota")["metadata"]["labels"]) == "acme"
    assert space_of_child({"tds.io/space": "acme"}) is None


async def test_a_converged_child_in_the_synced_index_costs_no_request() -> None:
    index = ChildIndex([QUOTA])
    index.fill([child(QUOTA, "quota", spec={"hard": {"pods": "50"}})])
    index.synced = True
    kube = RecordingKube()
    wrote = await ensure_child(kube, index, desired(QUOTA, "quota", spec={"hard": {"pods": "50"}}))  # type: ignore[arg-type]
    assert (wrote, kube.requests) == (False, [])


async def test_a_drifted_child_is_applied_and_the_answer_kept() -> None:
    index = ChildIndex([QUOTA])
    index.fill([child(QUOTA, "quota", spec={"hard": {"pods": "500"}})])
    index.synced = True
    kube = RecordingKube()
    wanted = desired(QUOTA, "quota", spec={"hard": {"pods": "50"}})
    assert await ensure_child(kube, index, wanted)  # type: ignore[arg-type]
    assert kube.requests == ["apply ResourceQuota/quota"]
    assert not index.observe(child(QUOTA, "quota", "7", spec={"hard": {"pods": "50"}}), False)


async def test_a_miss_is_read_from_the_api_before_the_index_is_synced_or_for_unwatched_kinds() -> (
    None
):
    index = ChildIndex([QUOTA])
    live = child(QUOTA, "quota", spec={"hard": {"pods": "50"}})
    kube = RecordingKube(live)
    assert not await ensure_child(
        kube, index, desired(QUOTA, "quota", spec={"hard": {"pods": "50"}})
    )  # type: ignore[arg-type]
    index.synced = True
    kube = RecordingKube(child(ROLE, "ledger-readers", rules=[]))
    assert not await ensure_child(kube, index, desired(ROLE, "ledger-readers", rules=[]))  # type: ignore[arg-type]
    assert kube.requests == ["get Role/ledger-readers"]


def test_a_change_of_only_the_status_of_a_child_is_no_news() -> None:
    index = ChildIndex([QUOTA])
    index.wrote(child(QUOTA, "quota", "5", spec={"hard": {"pods": "50"}}))
    counted = child(QUOTA, "quota", "6", spec={"hard": {"pods": "50"}}, status={"used": {}})
    assert index.observe(counted, False) is False
    relabelled = child(QUOTA, "quota", "7", spec={"hard": {"pods": "50"}}, status={"used": {}})
    relabelled["metadata"]["labels"] = {}
    assert index.observe(relabelled, False)


def test_a_child_first_seen_with_only_the_operators_fields_is_no_news_but_anothers_is() -> None:
    index = ChildIndex([QUOTA])
    # The event of the operator's own creation, before the answer to the write that made it.
    assert index.observe(child(QUOTA, "quota", "3"), False) is False
    made_by_someone = child(QUOTA, "limits", "4")
    made_by_someone["metadata"]["managedFields"].append({"manager": "kubectl-client-side-apply"})
    assert index.observe(made_by_someone, False)
    assert index.observe(child(QUOTA, "quota", "5"), True)
