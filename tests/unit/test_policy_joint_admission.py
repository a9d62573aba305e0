"""The admission decision of a joint TrainingJob: every contract must admit it, every provider
must allow the combination, and a refusal names the contract and the term."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from bench.hubkit.manifests import EXAMPLES, contract_body
from tds_operator.api.datacontract import DataContract
from tds_operator.api.terms import JointTraining
from tds_operator.api.trainingjob import TrainingJob, TrainingJobSpec
from tds_operator.policy.admissioncheck import gpus_admitted
from tds_operator.policy.joint_admission import (
    ContractCase,
    decide_joint_admission,
)
from tds_operator.policy.rules import HubRules
from tds_operator.policy.training import AdmissionInput, gpus_held, must_wait, queued_ahead

pytestmark = pytest.mark.unit

RULES = HubRules(output_max_size="10Gi")
ANY = {"allowed": True}


def live(name: str, provider: str, consumer: str = "telco", **spec: Any) -> dict[str, Any]:
    """An Active contract of `provider`'s dataset <provider>-data with `consumer`."""
    not_after = datetime.now(UTC) + timedelta(days=30)
    body = contract_body(
        name, provider, consumer, datasets=(f"{provider}-data",), not_after=not_after, **spec
    )
    body["status"] = {"phase": "Active"}
    return body


def cases(
    *contracts: dict[str, Any] | None,
    names: list[str] | None = None,
    namespace: str = "tds-telco",
    held: int = 0,
    **job: Any,
) -> list[ContractCase]:
    """One case per contract (None: a contract that does not exist, named `missing`); a job of
    one contract names it in `contract`."""
    names = names or [c["metadata"]["name"] if c else "missing" for c in contracts]
    named = {"contracts": names} if len(names) > 1 else {"contract": names[0]}
    spec = TrainingJobSpec.model_validate(
        {**named, "image": "registry.local/forecast:1.0", "gpusPerWorker": 4, **job}
    )
    return [
        ContractCase(
            AdmissionInput(
                job=spec,
                namespace=namespace,
                contract=DataContract.model_validate(body) if body else None,
                contract_phase="Active" if body else None,
                gpus_held_by_others=held,
                jobs_admitted=0,
                gpu_hours_used=0.0,
                contract_name=name,
            ),
            body,
        )
        for name, body in zip(names, contracts, strict=True)
    ]


def decide(items: list[ContractCase]) -> tuple[bool, str, str]:
    """The decision on a joint job (or a job of one contract)."""
    decision = decide_joint_admission(items, RULES, waiting=False)
    return decision.allowed, decision.reason, decision.message


def test_every_provider_allowing_admits_the_job() -> None:
    allowed, reason, message = decide(
        cases(live("grid", "grid", jointTraining=ANY), live("sky", "sky", jointTraining=ANY))
    )
    assert (allowed, reason) == (True, "Admitted")
    assert "grid, sky" in message
    assert "full GPU-seconds" in message


def test_absent_term_refuses_naming_the_contract_and_the_term() -> None:
    allowed, reason, message = decide(
        cases(live("grid", "grid", jointTraining=ANY), live("sky", "sky"))
    )
    assert (allowed, reason) == (False, "JointTrainingNotAllowed")
    assert message.startswith("DataContract sky:")
    assert "jointTraining" in message
    refused = decide(
        cases(
            live("grid", "grid", jointTraining=ANY),
            live("sky", "sky", jointTraining={"allowed": False}),
        )
    )
    assert refused[:2] == (False, "JointTrainingNotAllowed")


def test_with_names_the_only_partners() -> None:
    only_bank = {"allowed": True, "with": ["bank"]}
    allowed, reason, message = decide(
        cases(live("grid", "grid", jointTraining=only_bank), live("sky", "sky", jointTraining=ANY))
    )
    assert (allowed, reason) == (False, "JointPartnerNotAllowed")
    assert "DataContract grid" in message
    assert "sky" in message
    only_sky = {"allowed": True, "with": ["sky"]}
    admitted = decide(
        cases(live("grid", "grid", jointTraining=only_sky), live("sky", "sky", jointTraining=ANY))
    )
    assert admitted[:2] == (True, "Admitted")


def test_two_contracts_of_one_provider_refused() -> None:
    allowed, reason, message = decide(
        cases(live("grid", "grid", jointTraining=ANY), live("grid-2", "grid", jointTraining=ANY))
    )
    assert (allowed, reason) == (False, "SameProvider")
    assert "grid-2" in message


def test_each_contracts_own_terms_judge_the_job() -> None:
    small = live("sky", "sky", jointTraining=ANY, max_concurrent_gpus=2)
    allowed, reason, message = decide(cases(live("grid", "grid", jointTraining=ANY), small))
    assert (allowed, reason) == (False, "ConcurrencyExceeded")
    assert message.startswith("DataContract sky:")
    evaluation = live("sky", "sky", jointTraining=ANY, purpose="model-evaluation")
    assert decide(cases(live("grid", "grid", jointTraining=ANY), evaluation))[:2] == (
        False,
        "PurposeMismatch",
    )


def test_a_busy_contract_makes_the_job_wait_not_fail() -> None:
    items = cases(
        live("grid", "grid", jointTraining=ANY),
        live("sky", "sky", jointTraining=ANY),
        held=6,
    )
    decision = decide_joint_admission(items, RULES, waiting=False)
    assert must_wait(decision)
    assert decision.message.startswith("DataContract grid:")


def test_a_contract_of_another_consumer_is_answered_as_a_missing_one() -> None:
    theirs = live("sky", "sky", consumer="bank", jointTraining=ANY)
    mine = live("grid", "grid", jointTraining=ANY)
    foreign = decide(cases(mine, theirs))
    missing = decide(cases(mine, None, names=["grid", "sky"]))
    assert foreign == missing
    assert foreign[:2] == (False, "UnknownContract")
    assert "spec.contracts" in foreign[2]


def test_datasets_judged_across_the_contracts() -> None:
    grid, sky = live("grid", "grid", jointTraining=ANY), live("sky", "sky", jointTraining=ANY)
    assert decide(cases(grid, sky, datasets=["grid-data", "sky-data"]))[0]
    allowed, reason, message = decide(cases(grid, sky, datasets=["grid-data", "bank-data"]))
    assert (allowed, reason) == (False, "DatasetNotInContract")
    assert "bank-data" in message


def test_a_waiting_job_is_stopped_by_any_revoked_contract() -> None:
    sky = live("sky", "sky", jointTraining=ANY)
    sky["spec"]["revoked"] = True
    items = cases(live("grid", "grid", jointTraining=ANY), sky)
    decision = decide_joint_admission(items, RULES, waiting=True)
    assert (decision.allowed, decision.reason) == (False, "Revoked")
    assert "sky" in decision.message


def test_a_contracts_own_refusal_speaks_before_the_joint_terms() -> None:
    grid = live("grid", "grid", jointTraining=ANY)
    refused = decide(cases(grid, live("sky", "sky")))
    assert refused[:2] == (False, "JointTrainingNotAllowed")
    # A job of one contract is judged as it always was.
    single = decide_joint_admission(cases(grid, names=["grid"]), RULES, waiting=False)
    assert (single.allowed, single.reason) == (True, "Admitted")


def test_the_three_organisation_example_passes_every_term() -> None:
    documents = [
        document
        for path in sorted((EXAMPLES / "joint-training").glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
        if document
    ]
    contracts = {d["metadata"]["name"]: d for d in documents if d["kind"] == "DataContract"}
    (job,) = [TrainingJob.model_validate(d) for d in documents if d["kind"] == "TrainingJob"]
    items = []
    for name in job.spec.contract_names:
        body = {**contracts[name], "status": {"phase": "Active"}}
        contract = DataContract.model_validate(body)
        contract_case = AdmissionInput(
            job=job.spec,
            namespace=job.metadata.namespace or "",
            contract=contract,
            contract_phase="Active",
            gpus_held_by_others=0,
            jobs_admitted=0,
            gpu_hours_used=0.0,
            contract_name=name,
        )
        items.append(ContractCase(contract_case, body))
    decision = decide_joint_admission(items, RULES, waiting=False)
    assert (decision.allowed, decision.reason) == (True, "Admitted")
    # sgcc's contract names cma alone: without cma's contract's provider, it refuses.
    narrowed = {"allowed": True, "with": ["someone-else"]}
    first = items[0].case
    assert first.contract is not None
    changed = first.contract.spec.model_copy(
        update={"joint_training": JointTraining.model_validate(narrowed)}
    )
    items[0] = ContractCase(
        replace(first, contract=first.contract.model_copy(update={"spec": changed})), items[0].live
    )
    refused = decide_joint_admission(items, RULES, waiting=False)
    assert refused.reason == "JointPartnerNotAllowed"


def manifest(uid: str, phase: str, created: str, **spec: Any) -> dict[str, Any]:
    """A TrainingJob as listed: 1 worker x 4 GPUs, in `phase`."""
    return {
        "metadata": {
            "uid": uid,
            "namespace": "tds-telco",
            "name": uid,
            "creationTimestamp": created,
        },
        "spec": {"workers": 1, "gpusPerWorker": 4, **spec},
        "status": {"phase": phase},
    }


def test_a_joint_job_counts_against_each_contract_it_names() -> None:
    jobs = [
        manifest("alone", "Running", "2027-01-01T00:00:00Z", contract="grid"),
        manifest("joint", "Running", "2027-01-01T00:00:01Z", contracts=["grid", "sky"]),
        manifest("waiting", "Queued", "2027-01-01T00:00:02Z", contracts=["sky", "bank"]),
        manifest("me", "Queued", "2027-01-01T00:00:03Z", contract="sky"),
    ]
    assert gpus_held(jobs, "grid", except_uid="") == 8
    assert gpus_held(jobs, "sky", except_uid="") == 4
    assert gpus_held(jobs, "bank", except_uid="") == 0
    assert queued_ahead(jobs, "sky", uid="me") == 1
    assert queued_ahead(jobs, "grid", uid="me") == 0
    admitted = {"alone", "joint"}
    assert gpus_admitted(jobs, "sky", admitted, except_uid="me") == 4
    assert gpus_admitted(jobs, "grid", admitted, except_uid="joint") == 4
