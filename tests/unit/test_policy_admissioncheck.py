"""Why a job Kueue holds back still waits, its place in the queue, and the GPUs the contract
check counts: pure readings of Kueue's Workload, ClusterQueue and visibility API."""

from __future__ import annotations

from typing import Any

import pytest

from tds_operator.config import OperatorConfig
from tds_operator.policy.admissioncheck import (
    gpus_admitted,
    organisation_gpus,
    queue_position,
    waiting_reason,
)

pytestmark = pytest.mark.unit

CHECK = "tds-contract"


def workload(
    *, reserved: bool = False, check: str = "Pending", message: str = ""
) -> dict[str, Any]:
    return {
        "status": {
            "conditions": [{"type": "QuotaReserved", "status": str(reserved), "message": message}],
            "admissionChecks": [
                {"name": CHECK, "state": check, "message": "ContractConcurrency: x"}
            ],
        }
    }


def cluster_queue(nominal: int, held: int) -> dict[str, Any]:
    gpu = "nvidia.com/gpu"
    return {
        "spec": {
            "resourceGroups": [
                {"flavors": [{"name": "tds-gpu", "resources": [
                    {"name": "cpu", "nominalQuota": "16"},
                    {"name": gpu, "nominalQuota": nominal},
                ]}]}
            ]
        },
        "status": {"flavorsReservation": [{"name": "tds-gpu", "resources": [
            {"name": gpu, "total": str(held), "borrowed": "0"}
        ]}]},
    }  # fmt: skip


def test_the_organisations_guaranteed_and_held_gpus_are_read_from_its_queue() -> None:
    assert organisation_gpus(cluster_queue(16, 8), "nvidia.com/gpu") == (16, 8)
    assert organisation_gpus(None, "nvidia.com/gpu") == (0, 0)


def test_a_retry_of_the_contract_check_is_the_contracts_concurrency() -> None:
    why = waiting_reason(workload(check="Retry"), CHECK, 16, (16, 0))
    assert (why.allowed, why.reason) == (False, "ContractConcurrency")
    assert "ContractConcurrency: x" in why.message


def test_reserved_gpus_wait_for_the_contract_check() -> None:
    assert waiting_reason(workload(reserved=True), CHECK, 16, (16, 16)).reason == (
        "ContractConcurrency"
    )


def test_without_its_guaranteed_share_left_the_job_waits_for_its_organisations_quota() -> None:
    why = waiting_reason(workload(message="insufficient unused quota"), CHECK, 16, (16, 8))
    assert why.reason == "OrganisationQuota"
    assert "guaranteed 16" in why.message
    assert "insufficient unused quota" in why.message


def test_with_its_share_free_but_the_pool_lent_out_the_job_waits_for_the_hub() -> None:
    why = waiting_reason(workload(), CHECK, 8, (16, 8))
    assert why.reason == "HubCapacity"
    assert "8 of its 16 guaranteed GPUs free" in why.message


def test_a_job_without_a_workload_yet_waits_for_kueue() -> None:
    assert waiting_reason(None, CHECK, 8, (16, 0)).reason == "HubCapacity"


def tj(uid: str, contract: str = "c", phase: str = "Running", workers: int = 2) -> dict[str, Any]:
    return {
        "metadata": {"uid": uid},
        "spec": {"contract": contract, "workers": workers, "gpusPerWorker": 8},
        "status": {"phase": phase},
    }


def pending(*positions: tuple[str, Any]) -> dict[str, Any]:
    """A PendingWorkloadsSummary of a LocalQueue: each workload's name and positionInLocalQueue
    (its positionInClusterQueue further on, as when other clean rooms' jobs are ahead)."""
    return {
        "kind": "PendingWorkloadsSummary",
        "apiVersion": "visibility.kueue.x-k8s.io/v1beta2",
        "items": [
            {
                "metadata": {"name": name, "namespace": "tds-cr-c"},
                "positionInLocalQueue": position,
                "positionInClusterQueue": 7,
                "localQueueName": "tds-jobs",
            }
            for name, position in positions
        ],
    }


def test_the_position_is_the_place_in_the_clean_rooms_queue_one_being_next() -> None:
    summary = pending(("job-a", 0), ("job-b", 1), ("job-c", 2))
    assert [queue_position(summary, name) for name in ("job-a", "job-b", "job-c")] == [1, 2, 3]


@pytest.mark.parametrize(
    "summary",
    [
        pending(("other", 0)),
        {"items": []},
        {"items": None},
        {},
        pending(("job-a", None)),
        pending(("job-a", -1)),
        pending(("job-a", "0")),
        pending(("job-a", True)),
    ],
    ids=["not-pending", "empty", "null-items", "no-items", "unset", "negative", "text", "bool"],
)
def test_a_workload_not_pending_or_without_a_valid_position_has_none(
    summary: dict[str, Any],
) -> None:
    assert queue_position(summary, "job-a") is None


def test_the_check_counts_the_contracts_admitted_unfinished_jobs_but_the_one_it_decides() -> None:
    jobs = [
        tj("a"),  # admitted, running: 16
        tj("b", phase="Queued"),  # admitted on the ledger, its phase not caught up yet: 16
        tj("c", phase="Succeeded"),  # ended: nothing
        tj("d", phase="Queued"),  # not admitted: nothing
        tj("e", contract="other"),  # another contract's
        tj("f"),  # the one decided
    ]
    assert gpus_admitted(jobs, "c", {"a", "b", "c", "e", "f"}, except_uid="f") == 32


@pytest.mark.parametrize(("value", "mode"), [(None, "auto"), ("on", "on"), ("off", "off")])
def test_kueue_is_used_as_tds_kueue_says(value: str | None, mode: str) -> None:
    env = {} if value is None else {"TDS_KUEUE": value}
    assert OperatorConfig.from_environment(env).kueue == mode


def test_an_unknown_tds_kueue_names_the_variable_and_the_helm_value() -> None:
    with pytest.raises(ValueError, match=r"TDS_KUEUE .*kueue\.enabled"):
        OperatorConfig.from_environment({"TDS_KUEUE": "yes"})
