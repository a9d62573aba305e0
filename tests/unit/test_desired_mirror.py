"""Each party's copy of a contract: one in each party's namespace, nowhere else, with the terms,
its side, the phase, usage and conditions, and nothing of who consented or the ledger."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bench.hubkit.manifests import consented, contract_spec
from tds_operator.api.contract import Contract
from tds_operator.api.datacontract import DataContract, DataContractStatus
from tds_operator.desired.mirror import contract_mirrors
from tds_operator.desired.rbac import space_member_role, space_owner_role

pytestmark = pytest.mark.unit

UID = "0f6a3c1e-0000-4000-8000-000000000001"
CONDITION = {
    "type": "Active",
    "status": "True",
    "reason": "Active",
    "message": "both parties consented",
    "lastTransitionTime": "2026-12-01T00:00:00Z",
    "observedGeneration": 2,
}


def a_contract() -> DataContract:
    """sgcc shares with cmcc, both consented, the provider's consent signed."""
    spec = consented(contract_spec()).model_dump(mode="json", by_alias=True, exclude_none=True)
    spec["consent"]["provider"]["signature"] = {"keyId": "k1", "value": "c2VjcmV0LXNpZ25hdHVyZQ=="}
    return DataContract.model_validate({"metadata": {"name": "sgcc-to-cmcc"}, "spec": spec})


def a_status(**fields: Any) -> DataContractStatus:
    return DataContractStatus.model_validate(
        {
            "phase": "Active",
            "usage": {"gpuHours": 1.5, "jobs": 2},
            "conditions": [CONDITION],
            "signatures": [
                {"party": "provider", "user": "alice", "at": "2026-12-01T00:00:00Z"}
                | {"specDigest": "sha256:" + "0" * 64}
            ],
            "audit": {"head": "sha256:" + "1" * 64, "entries": 7},
            **fields,
        }
    )


def mirrors(**live: Any) -> dict[str, dict[str, Any]]:
    made = contract_mirrors(a_contract(), UID, a_status(), live)
    return {m["metadata"]["namespace"]: m for m in made}


def test_one_copy_in_each_partys_namespace_and_nowhere_else() -> None:
    made = mirrors()
    assert set(made) == {"tds-sgcc", "tds-cmcc"}
    assert made["tds-sgcc"]["spec"]["side"] == "provider"
    assert made["tds-sgcc"]["spec"]["counterparty"] == "cmcc"
    assert made["tds-cmcc"]["spec"]["side"] == "consumer"
    assert made["tds-cmcc"]["spec"]["counterparty"] == "sgcc"
    for mirror in made.values():
        assert mirror["kind"] == "Contract"
        assert mirror["metadata"]["name"] == "sgcc-to-cmcc"
        assert mirror["spec"]["contract"] == "sgcc-to-cmcc"
        (owner,) = mirror["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["uid"], owner["controller"]) == ("DataContract", UID, True)


def test_a_copy_carries_terms_phase_usage_and_conditions() -> None:
    mirror = mirrors()["tds-cmcc"]
    assert mirror["spec"]["provider"] == {"space": "sgcc", "datasets": ["grid-load-2025"]}
    assert mirror["spec"]["compute"] == a_contract().spec.compute.model_dump(by_alias=True)
    assert mirror["spec"]["consent"] == {"provider": True, "consumer": True}
    assert mirror["status"]["phase"] == "Active"
    assert mirror["status"]["usage"] == {"gpuHours": 1.5, "gpuHoursRounded": 1.5, "jobs": 2}
    assert mirror["status"]["conditions"] == [CONDITION]
    # It is a valid Contract.
    assert Contract.model_validate(mirror).spec.side == "consumer"


def test_a_copy_carries_no_signature_stamp_or_ledger_head() -> None:
    text = json.dumps(mirrors())
    for secret in ("c2VjcmV0LXNpZ25hdHVyZQ==", "alice", "sha256:", "signatures", "audit"):
        assert secret not in text, secret
    # Positive control: the contract itself holds them.
    assert "c2VjcmV0LXNpZ25hdHVyZQ==" in a_contract().model_dump_json(by_alias=True)


def test_fields_the_reconcile_does_not_write_keep_their_live_value() -> None:
    made = contract_mirrors(
        a_contract(),
        UID,
        DataContractStatus(phase="Active"),
        {"activeSince": "2026-12-01T00:00:00Z", "usage": {"gpuHours": 3.0, "jobs": 1}},
    )
    status = made[0]["status"]
    assert status["activeSince"] == "2026-12-01T00:00:00Z"
    assert status["usage"] == {"gpuHours": 3.0, "gpuHoursRounded": 3.0, "jobs": 1}
    assert status["phase"] == "Active"


def test_the_copies_are_a_pure_function_of_the_contract() -> None:
    assert mirrors() == mirrors()


def test_owners_and_members_read_their_spaces_copies_and_write_none() -> None:
    for role in (space_owner_role(), space_member_role()):
        verbs = {
            v for rule in role["rules"] if "contracts" in rule["resources"] for v in rule["verbs"]
        }
        assert verbs == {"get", "list", "watch"}, role["metadata"]["name"]


def test_a_copy_carries_the_joint_training_term_when_the_contract_has_one() -> None:
    assert "jointTraining" not in mirrors()["tds-cmcc"]["spec"]
    contract = a_contract()
    term = {"allowed": True, "with": ["cma"]}
    spec = contract.spec.model_validate({**contract.spec.to_manifest(), "jointTraining": term})
    joint = contract.model_copy(update={"spec": spec})
    for mirror in contract_mirrors(joint, UID, a_status(), {}):
        assert mirror["spec"]["jointTraining"] == term
