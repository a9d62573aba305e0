"""A job starts only in a sealed clean room: the contract opened it, every policy reads back as
built, no DNS, every dataset at an IP. Pure, no cluster."""

from __future__ import annotations

from typing import Any

import pytest

from bench.hubkit.manifests import consented, contract_spec
from tds_operator.api.datacontract import DataContract
from tds_operator.policy.decision import Decision
from tds_operator.policy.sealing import (
    CleanRoomObservation,
    clean_room_sealed,
    contract_opened_clean_room,
)

pytestmark = pytest.mark.unit

ROOM = "tds-cr-sgcc-to-cmcc"
OPENED = Decision.allow("CleanRoomSealed", "the contract reports its clean room open")


def a_contract(generation: int = 3, **ready: Any) -> DataContract:
    condition = {
        "type": "CleanRoomReady",
        "status": "True",
        "reason": "CleanRoomOpen",
        "message": "open",
        "lastTransitionTime": "2027-01-15T12:00:00Z",
        "observedGeneration": 3,
        **ready,
    }
    return DataContract.model_validate(
        {
            "metadata": {"name": "sgcc-to-cmcc", "generation": generation},
            "spec": consented(contract_spec()).model_dump(mode="json", by_alias=True),
            "status": {"conditions": [condition]},
        }
    )


def test_the_contract_must_report_its_clean_room_open_for_its_current_terms() -> None:
    assert contract_opened_clean_room(a_contract()).allowed
    stale = contract_opened_clean_room(a_contract(generation=4))
    assert (stale.allowed, stale.reason) == (False, "CleanRoomNotReady")
    assert "generation 4" in stale.message
    rejected = contract_opened_clean_room(
        a_contract(
            status="False",
            reason="CleanRoomRejected",
            message="the API server rejected NetworkPolicy tds-default-deny: denied",
        )
    )
    assert not rejected.allowed
    assert "rejected NetworkPolicy tds-default-deny" in rejected.message
    unreported = DataContract(metadata={"name": "c"}, spec=consented(contract_spec()))
    assert not contract_opened_clean_room(unreported).allowed


def test_a_clean_room_not_ready_only_for_a_missing_dataset_leaves_each_job_to_its_own() -> None:
    missing = a_contract(status="False", reason="DatasetClaimMissing", message="not ready: ...")
    assert contract_opened_clean_room(missing).allowed
    stale = a_contract(generation=4, status="False", reason="DatasetServiceMissing")
    assert not contract_opened_clean_room(stale).allowed
    observed = CleanRoomObservation(ROOM, namespace_exists=True, datasets_without_address=["grid"])
    waits = clean_room_sealed(contract_opened_clean_room(missing), observed)
    assert (waits.allowed, waits.reason) == (False, "CleanRoomNotReady")
    assert "dataset grid has no Service" in waits.message


def test_a_sealed_clean_room_lets_the_job_start() -> None:
    decision = clean_room_sealed(OPENED, CleanRoomObservation(ROOM, namespace_exists=True))
    assert (decision.allowed, decision.reason) == (True, "CleanRoomSealed")


def test_a_clean_room_the_contract_has_not_opened_keeps_the_job_waiting() -> None:
    closed = Decision.deny("CleanRoomNotReady", "the contract's clean room is not ready: x")
    assert clean_room_sealed(closed, CleanRoomObservation(ROOM, True)) == closed
    absent = clean_room_sealed(OPENED, CleanRoomObservation(ROOM, namespace_exists=False))
    assert not absent.allowed
    assert f"clean room namespace {ROOM} does not exist" in absent.message


def test_every_gap_in_the_seal_is_named() -> None:
    observed = CleanRoomObservation(
        ROOM,
        namespace_exists=True,
        policies_missing=[f"{ROOM}/tds-default-deny"],
        policies_altered=["tds-sgcc/tds-allow-tds-cr-sgcc-to-cmcc"],
        dns_policy=f"{ROOM}/tds-allow-dns",
        datasets_without_address=["grid-load-2025"],
    )
    decision = clean_room_sealed(OPENED, observed)
    assert (decision.allowed, decision.reason) == (False, "CleanRoomNotReady")
    assert decision.message == (
        f"the job waits until clean room {ROOM} is sealed: "
        f"NetworkPolicy {ROOM}/tds-default-deny is missing; "
        "NetworkPolicy tds-sgcc/tds-allow-tds-cr-sgcc-to-cmcc differs from its terms; "
        f"NetworkPolicy {ROOM}/tds-allow-dns lets clean-room pods ask the cluster DNS; "
        "dataset grid-load-2025 has no Service with a cluster IP to reach it at "
        "(clean rooms have no resolver)"
    )
