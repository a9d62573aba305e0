"""The hub's Kueue queue tree and the contract as its AdmissionCheck, as the operator builds them:
one cohort of GPUs, a ClusterQueue per consumer organisation with its guaranteed share, a
LocalQueue per clean room; the contract's decision as the state Kueue acts on."""

from __future__ import annotations

import pytest

from bench.hubkit.manifests import cmcc
from tds_operator.api.dataspace import DataSpace
from tds_operator.desired.queues import (
    clean_room_queue,
    contract_check,
    contract_check_active,
    contract_check_status,
    gpu_borrowing_limit,
    gpu_flavor,
    organisation_queue,
    queued_batch_job,
)
from tds_operator.policy.decision import Decision
from tds_operator.policy.rules import HubRules

pytestmark = pytest.mark.unit

NOW = "2027-01-15T12:00:00Z"


def a_consumer(gpus: int) -> DataSpace:
    spec = cmcc()
    quota = spec.quota.model_copy(update={"gpu": gpus})
    return DataSpace(metadata={"name": "cmcc"}, spec=spec.model_copy(update={"quota": quota}))


def test_an_organisations_guaranteed_gpus_are_its_nominal_quota_in_the_pools_cohort() -> None:
    queue = organisation_queue(a_consumer(32), ["tds-cr-b", "tds-cr-a"], weight=2,
                               borrowing_limit=16)  # fmt: skip
    spec = queue["spec"]
    assert queue["metadata"]["name"] == "tds-cmcc"
    assert spec["cohortName"] == "tds-gpu-pool"
    [group] = spec["resourceGroups"]
    assert group["coveredResources"] == ["cpu", "memory", "nvidia.com/gpu"]
    [flavor] = group["flavors"]
    assert flavor["name"] == "tds-gpu"
    gpus = {"name": "nvidia.com/gpu", "nominalQuota": 32, "borrowingLimit": 16}
    assert flavor["resources"][-1] == gpus
    assert spec["fairSharing"] == {"weight": 2}
    assert spec["admissionChecksStrategy"] == {"admissionChecks": [{"name": "tds-contract"}]}
    # Only the organisation's own clean rooms may queue onto its share.
    [only] = spec["namespaceSelector"]["matchExpressions"]
    assert (only["key"], only["operator"], only["values"]) == (
        "kubernetes.io/metadata.name",
        "In",
        ["tds-cr-a", "tds-cr-b"],
    )


def test_without_a_borrowing_limit_an_organisation_may_borrow_every_idle_gpu() -> None:
    [group] = organisation_queue(a_consumer(8), [])["spec"]["resourceGroups"]
    assert not any("borrowingLimit" in quota for quota in group["flavors"][0]["resources"])


def test_each_clean_room_queues_onto_its_consumers_cluster_queue() -> None:
    queue = clean_room_queue("sgcc-to-cmcc", "cmcc")
    assert queue["kind"] == "LocalQueue"
    assert queue["metadata"]["namespace"] == "tds-cr-sgcc-to-cmcc"
    assert queue["spec"] == {"clusterQueue": "tds-cmcc"}


def test_the_gpu_flavor_is_the_hubs_gpu_pool() -> None:
    spec = gpu_flavor(HubRules())["spec"]
    assert spec["nodeLabels"] == {"hub.tds.io/pool": "gpu"}
    assert spec["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]


def test_the_operator_controls_the_contract_check() -> None:
    assert contract_check()["spec"] == {"controllerName": "tds.io/contract"}


@pytest.mark.parametrize(
    ("decision", "state"),
    [
        (Decision.allow("Admitted", "admitted"), "Ready"),
        (Decision.deny("ContractConcurrency", "queued at position 1"), "Retry"),
        (Decision.deny("ConcurrencyExceeded", "could never run"), "Rejected"),
        (Decision.deny("Revoked", "DataContract c is Revoked"), "Rejected"),
        (Decision.deny("BudgetExhausted", "used 10 of its 10 GPU-hours"), "Rejected"),
    ],
)
def test_the_contract_check_says_ready_retry_or_rejected(decision: Decision, state: str) -> None:
    status = contract_check_status(decision, NOW)
    assert status["name"] == "tds-contract"
    assert status["state"] == state
    assert status["message"].startswith(f"{decision.reason}: ")
    assert status["lastTransitionTime"] == NOW
    # A Retry asks again after a pause, so that Kueue does not re-reserve the GPUs at once.
    assert ("requeueAfterSeconds" in status) == (state == "Retry")


def test_a_queued_batch_job_is_created_suspended_on_the_clean_rooms_queue() -> None:
    job = {
        "metadata": {"name": "j", "labels": {"tds.io/contract": "c"}},
        "spec": {"parallelism": 2},
    }
    queued = queued_batch_job(job)
    assert queued["spec"] == {"parallelism": 2, "suspend": True}
    assert queued["metadata"]["labels"] == {
        "tds.io/contract": "c",
        "kueue.x-k8s.io/queue-name": "tds-jobs",
    }
    assert "suspend" not in job["spec"], "the builder's manifest was changed"


def test_the_contract_check_reports_itself_active() -> None:
    [active] = contract_check_active(NOW)["conditions"]
    assert (active["type"], active["status"]) == ("Active", "True")


def test_an_organisations_queue_goes_with_its_space() -> None:
    space = DataSpace(metadata={"name": "cmcc", "uid": "u-1"}, spec=cmcc())
    [owner] = organisation_queue(space, [])["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("DataSpace", "cmcc", "u-1")


@pytest.mark.parametrize("limit", [None, 0, 16])
def test_the_borrowing_limit_reads_back_from_the_queue(limit: int | None) -> None:
    queue = organisation_queue(a_consumer(8), [], borrowing_limit=limit)
    assert gpu_borrowing_limit(queue) == limit
