"""A joint job's clean room: its own namespace and identity with a contract clean room's seals,
and in each provider's namespace a grant and an ingress for that provider's contract alone."""

from __future__ import annotations

import uuid

import pytest

from bench.hubkit.manifests import consented, contract_spec, provider_named, training_job_body
from tds_operator.api.datacontract import DataContract
from tds_operator.api.trainingjob import TrainingJob
from tds_operator.desired.cleanroom import DatasetEndpoint, clean_room_namespace
from tds_operator.desired.joint_room import (
    JOINT_ROOM_LABEL,
    JointPart,
    joint_grants,
    joint_room_children,
    joint_room_namespace,
    joint_room_policies,
    joint_worker_identity,
)
from tds_operator.desired.labels import CONTRACT_LABEL, controlled_by
from tds_operator.desired.orphans import orphans_of
from tds_operator.desired.trainingjob import JOB_UID_LABEL, rendezvous_service
from tds_operator.handlers.batch_run import batch_job_of

pytestmark = pytest.mark.unit
JOB_UID = "0b7f6a52-6f0e-4c43-a0a5-3f7a1e1a9d10"


def a_part(provider: str, datasets: list[str], uid: str) -> JointPart:
    contract = DataContract(
        metadata={"name": f"{provider}-to-cmcc", "uid": uid},
        spec=consented(contract_spec(provider={"space": provider, "datasets": datasets})),
    )
    space = provider_named(
        provider,
        [
            {
                "name": name,
                "classification": "important",
                "source": {"service": {"name": f"{name}-svc", "port": 8443}},
            }
            for name in [*datasets, f"{provider}-private"]
        ],
    )
    endpoints = {name: DatasetEndpoint(8443, {"app": name}, "10.0.0.1:8443") for name in datasets}
    return JointPart(contract, space, endpoints)


def a_joint_job(**spec: object) -> TrainingJob:
    body = training_job_body("forecast", "tds-cmcc", "x", **spec)
    del body["spec"]["contract"]
    body["spec"]["contracts"] = ["sgcc-to-cmcc", "cma-to-cmcc"]
    body["metadata"]["uid"] = JOB_UID
    return TrainingJob.model_validate(body)


PARTS = [a_part("sgcc", ["grid-load"], "c-sgcc"), a_part("cma", ["weather"], "c-cma")]


def test_the_joint_room_is_named_after_the_job_and_bounded() -> None:
    assert joint_room_namespace(JOB_UID) == f"tds-jr-{JOB_UID}"
    assert len(joint_room_namespace(str(uuid.uuid4()) * 3)) <= 63
    # Never a contract's clean room: its identity is not any contract's.
    assert joint_room_namespace(JOB_UID) != clean_room_namespace("sgcc-to-cmcc")


def test_the_joint_room_has_the_seals_of_a_clean_room() -> None:
    children = joint_room_children(a_joint_job(), PARTS)
    room = joint_room_namespace(JOB_UID)
    namespace = children[0]
    assert namespace["kind"] == "Namespace"
    assert namespace["metadata"]["name"] == room
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels[JOB_UID_LABEL] == JOB_UID
    assert labels[JOINT_ROOM_LABEL] == "true"
    inside = {
        (c["kind"], c["metadata"]["name"])
        for c in children
        if c["metadata"].get("namespace") == room
    }
    assert ("ServiceAccount", "tds-worker") in inside
    assert ("NetworkPolicy", "tds-default-deny") in inside
    assert ("NetworkPolicy", "tds-allow-dns") not in inside  # no resolver
    account = next(c for c in children if c["kind"] == "ServiceAccount")
    assert account["automountServiceAccountToken"] is False
    # No RBAC for anyone inside the room (the consumer least of all).
    assert not [c for c in children if c["kind"] in ("Role", "RoleBinding")]
    quota = next(c for c in children if c["kind"] == "ResourceQuota")
    assert quota["spec"]["hard"] == {"requests.nvidia.com/gpu": "8"}


def test_the_joint_room_reaches_each_contracts_datasets_and_nothing_else() -> None:
    policies = joint_room_policies(a_joint_job(), PARTS)
    datasets = next(p for p in policies if p["metadata"]["name"] == "tds-allow-datasets")
    peers = [rule["to"][0] for rule in datasets["spec"]["egress"]]
    assert [
        p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for p in peers
    ] == [
        "tds-sgcc",
        "tds-cma",
    ]
    assert [p["podSelector"]["matchLabels"] for p in peers] == [
        {"app": "grid-load"},
        {"app": "weather"},
    ]
    # Each provider admits the joint room, by a policy its contract controls.
    for part in PARTS:
        name = part.contract.metadata.name
        ingress = [
            p for p in policies if p["metadata"].get("labels", {}).get(CONTRACT_LABEL) == name
        ]
        assert len(ingress) == 1
        assert ingress[0]["metadata"]["namespace"] == f"tds-{part.provider.metadata.name}"
        assert controlled_by(ingress[0], part.contract.metadata.uid or "")
        source = ingress[0]["spec"]["ingress"][0]["from"][0]["namespaceSelector"]
        assert source["matchLabels"] == {
            "kubernetes.io/metadata.name": joint_room_namespace(JOB_UID)
        }


def test_each_provider_grants_the_joint_room_its_own_contracts_datasets_only() -> None:
    grants = joint_grants(a_joint_job(), PARTS)
    assert len(grants) == 4
    by_namespace = {}
    for grant in grants:
        by_namespace.setdefault(grant["metadata"]["namespace"], []).append(grant)
    assert set(by_namespace) == {"tds-sgcc", "tds-cma"}
    for part in PARTS:
        role, binding = by_namespace[f"tds-{part.provider.metadata.name}"]
        assert role["rules"][0]["resourceNames"] == part.contract.spec.provider.datasets
        assert binding["subjects"] == [
            {
                "kind": "ServiceAccount",
                "name": "tds-worker",
                "namespace": joint_room_namespace(JOB_UID),
            }
        ]
        for grant in (role, binding):
            assert grant["metadata"]["labels"][CONTRACT_LABEL] == part.contract.metadata.name
            assert controlled_by(grant, part.contract.metadata.uid or "")
    assert joint_worker_identity(JOB_UID).endswith(f"{joint_room_namespace(JOB_UID)}:tds-worker")


def test_a_job_reading_some_datasets_is_granted_those_alone() -> None:
    parts = [a_part("sgcc", ["grid-load", "meters"], "c-sgcc"), a_part("cma", ["weather"], "c-cma")]
    grants = joint_grants(a_joint_job(datasets=["meters", "weather"]), parts)
    names = [g["rules"][0]["resourceNames"] for g in grants if g["kind"] == "Role"]
    assert names == [["meters"], ["weather"]]
    # A contract none of whose datasets the job reads grants nothing: no rule without names.
    grants = joint_grants(a_joint_job(datasets=["weather"]), parts)
    assert {g["metadata"]["namespace"] for g in grants} == {"tds-cma"}


def test_what_a_gone_joint_job_left_in_its_room_is_found_with_every_contract() -> None:
    job = a_joint_job()
    service = rendezvous_service(job)
    (orphan,) = orphans_of([service], [])
    assert orphan.contracts == ("sgcc-to-cmcc", "cma-to-cmcc")
    assert orphan.body()["spec"] == {"contracts": ["sgcc-to-cmcc", "cma-to-cmcc"]}
    # Its room is where its stand-in's objects are looked for.
    assert batch_job_of(orphan.body()) == ("forecast", joint_room_namespace(JOB_UID))
    # Positive control above; the same labels and annotation outside the room count for nothing.
    elsewhere = {**service, "metadata": {**service["metadata"], "namespace": "tds-cmcc"}}
    assert orphans_of([elsewhere], []) == []
    # A live job keeps what is its own.
    assert orphans_of([service], [{"metadata": {"uid": JOB_UID}}]) == []


def test_a_gone_joint_jobs_emptied_room_is_found_by_its_namespace_alone() -> None:
    """A room with no worker, Service or claim left (the job waited for an address, or its
    output went) is found by its namespace: it names the job and every contract."""
    room = joint_room_children(a_joint_job(), PARTS)[0]
    (orphan,) = orphans_of([room], [])
    assert orphan.uid == JOB_UID
    assert orphan.contracts == ("sgcc-to-cmcc", "cma-to-cmcc")
    assert orphans_of([room], [{"metadata": {"uid": JOB_UID}}]) == [], "a live job's room"
    # The same labels on a namespace the first contract does not control, or of another name,
    # count for nothing.
    stranger = {**room, "metadata": {**room["metadata"], "ownerReferences": []}}
    assert orphans_of([stranger], []) == []
    renamed = {**room, "metadata": {**room["metadata"], "name": "tds-jr-elsewhere"}}
    assert orphans_of([renamed], []) == []
