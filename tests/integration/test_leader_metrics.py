"""A replica that stops leading drops the contract series it exported: summed over replicas, a
contract is counted once. The lead is taken from the running operator by writing its Lease as
another holder (as a replica that won it would), then handed back."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from kubernetes import client

from bench.hubkit.processes import OperatorProcess
from bench.hubkit.training import Story
from bench.hubkit.waiting import wait_until

pytestmark = pytest.mark.integration

LEASE = "tds-operator-leader"
NAMESPACE = "tds-system"
# Series only the leader exports; tds_trainingjob_admissions_total (webhooks) stays on every one.
LEADER_SERIES = (
    "tds_contract_info",
    "tds_contract_phase",
    "tds_contract_gpu_seconds_total",
    "tds_contract_gpu_seconds_budget",
    "tds_contract_not_after_timestamp_seconds",
    "tds_contract_jobs",
)


class Intruder(threading.Thread):
    """Holds the Lease as another replica would: renews it every half second until stopped."""

    def __init__(self, api_client: client.ApiClient) -> None:
        super().__init__(daemon=True)
        self.leases = client.CoordinationV1Api(api_client)
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            spec = {"holderIdentity": "intruder", "leaseDurationSeconds": 4, "renewTime": now}
            self.leases.patch_namespaced_lease(LEASE, NAMESPACE, {"spec": spec})
            self.done.wait(0.5)


def exported(operator: OperatorProcess, contract: str) -> list[str]:
    return [name for name in LEADER_SERIES if operator.samples(name, contract=contract)]


def test_a_replica_that_loses_the_lead_drops_its_contract_series(
    story: Story, operator: OperatorProcess, api_client: client.ApiClient
) -> None:
    deal = story.deal()
    wait_until(
        lambda: operator.metric("tds_contract_phase", contract=deal.contract, phase="Active") == 1,
        timeout=20,
        what="the leader exporting the contract",
    )
    # The control: while it leads, it exports every series of the contract.
    assert exported(operator, deal.contract) == list(LEADER_SERIES)
    assert operator.metric("tds_leader") == 1

    intruder = Intruder(api_client)
    intruder.start()
    try:
        wait_until(
            lambda: operator.metric("tds_leader") == 0, timeout=20, what="the operator standing by"
        )
        assert exported(operator, deal.contract) == []
    finally:
        intruder.done.set()
        intruder.join(timeout=5)

    # Once the intruder's Lease expires, the operator leads again and exports the contract anew.
    wait_until(
        lambda: exported(operator, deal.contract) == list(LEADER_SERIES),
        timeout=30,
        what="the operator leading and exporting the contract again",
    )
    assert operator.metric("tds_leader") == 1
