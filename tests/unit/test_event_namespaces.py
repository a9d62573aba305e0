"""Where the operator files its Events: where those concerned read them."""

from __future__ import annotations

import pytest

from tds_operator.handlers.objects import event_namespaces

pytestmark = pytest.mark.unit


def test_a_contracts_events_go_to_both_parties_namespaces_and_not_default() -> None:
    contract = {
        "kind": "DataContract",
        "metadata": {"name": "sgcc-to-cmcc-load"},
        "spec": {"provider": {"space": "sgcc"}, "consumer": {"space": "cmcc"}},
    }
    assert event_namespaces(contract) == ["tds-sgcc", "tds-cmcc"]


def test_a_namespaced_objects_events_stay_in_its_namespace() -> None:
    job = {"kind": "TrainingJob", "metadata": {"name": "j", "namespace": "tds-cmcc"}}
    assert event_namespaces(job) == ["tds-cmcc"]


def test_a_spaces_events_go_to_its_own_namespace() -> None:
    assert event_namespaces({"kind": "DataSpace", "metadata": {"name": "sgcc"}}) == ["tds-sgcc"]


def test_a_deleted_spaces_events_go_to_default_as_its_namespace_terminates() -> None:
    space = {"kind": "DataSpace", "metadata": {"name": "sgcc", "deletionTimestamp": "t"}}
    assert event_namespaces(space) == ["default"]


def test_other_cluster_scoped_objects_use_default() -> None:
    assert event_namespaces({"kind": "Widget", "metadata": {"name": "w"}}) == ["default"]
