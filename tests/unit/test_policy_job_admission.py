"""The one admission decision of a TrainingJob: its contract's terms, then the size of its
output, and a waiting job refused with its contract's own reason."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bench.hubkit.manifests import consented, contract_body, contract_spec
from tds_operator.api.datacontract import DataContract
from tds_operator.api.trainingjob import TrainingJobSpec
from tds_operator.policy.job_admission import decide_admission
from tds_operator.policy.rules import HubRules
from tds_operator.policy.training import AdmissionInput

pytestmark = pytest.mark.unit

RULES = HubRules(output_max_size="10Gi")


def live_contract(**spec: Any) -> dict[str, Any]:
    not_after = datetime.now(UTC) + timedelta(days=30)
    body = contract_body("sgcc-to-cmcc", "sgcc", "cmcc", not_after=not_after, **spec)
    body["status"] = {"phase": "Active"}
    return body


def case(**job: Any) -> AdmissionInput:
    spec = TrainingJobSpec.model_validate(
        {"contract": "sgcc-to-cmcc", "image": "registry.local/forecast:1.0", **job}
    )
    return AdmissionInput(
        job=spec,
        namespace="tds-cmcc",
        contract=DataContract(metadata={"name": "sgcc-to-cmcc"}, spec=consented(contract_spec())),
        contract_phase="Active",
        gpus_held_by_others=0,
        jobs_admitted=0,
        gpu_hours_used=0.0,
    )


def test_a_job_within_every_term_and_rule_is_admitted() -> None:
    decision = decide_admission(case(output={"size": "1Gi"}), live_contract(), RULES, waiting=False)
    assert decision.allowed
    # The last check that allowed it speaks: the output's size.
    assert decision.reason == "OutputSizeAllowed"
    without_output = decide_admission(case(), live_contract(), RULES, waiting=False)
    assert (without_output.allowed, without_output.reason) == (True, "Admitted")


def test_an_output_larger_than_the_hub_allows_is_refused_after_the_terms() -> None:
    decision = decide_admission(
        case(output={"size": "20Gi"}), live_contract(), RULES, waiting=False
    )
    assert not decision.allowed
    assert "10Gi" in decision.message


def test_a_term_the_job_breaks_decides_before_its_output() -> None:
    decision = decide_admission(
        case(purpose="analytics", output={"size": "20Gi"}), live_contract(), RULES, waiting=False
    )
    assert decision.reason == "PurposeMismatch"


def test_a_waiting_job_is_refused_with_the_reason_of_a_revoked_contract() -> None:
    revoked = live_contract(revoked=True)
    waiting = decide_admission(case(), revoked, RULES, waiting=True)
    assert (waiting.allowed, waiting.reason) == (False, "Revoked")
    # A new job under the same contract is judged on its terms (the contract still reads
    # Active here): the waiting job's reason is the contract's own.
    assert decide_admission(case(), revoked, RULES, waiting=False).allowed


def test_a_waiting_job_whose_contract_is_gone_is_refused_as_deleted() -> None:
    decision = decide_admission(case(), None, RULES, waiting=True)
    assert (decision.allowed, decision.reason) == (False, "ContractDeleted")


def test_a_waiting_job_learns_nothing_of_a_contract_its_namespace_is_no_party_to() -> None:
    """A job that waited under a contract since deleted, and made again under the same name
    between other spaces, is refused as a new job in its namespace would be: the new contract's
    phase and reason stay its parties' own."""
    revoked = live_contract(revoked=True)
    elsewhere = dataclasses.replace(case(), namespace="tds-eve")
    waiting = decide_admission(elsewhere, revoked, RULES, waiting=True)
    new = decide_admission(elsewhere, revoked, RULES, waiting=False)
    assert (waiting.allowed, waiting.reason, waiting.message) == (
        new.allowed,
        new.reason,
        new.message,
    )
    assert waiting.reason == "UnknownContract"
    assert "Revoked" not in waiting.message
    # Positive control: in the consumer's namespace the same contract is named Revoked.
    assert decide_admission(case(), revoked, RULES, waiting=True).reason == "Revoked"
