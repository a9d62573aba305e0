"""The generated CRDs on a real API server: examples accepted, bad manifests refused clearly."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml
from kubernetes import client, dynamic
from kubernetes.client.exceptions import ApiException

from bench.hubkit.hub import REPO_ROOT
from bench.hubkit.manifests import API_VERSION, example
from tds_operator.api import resource_for
from tests.integration.crds import create

pytestmark = pytest.mark.integration

Manifest = dict[str, Any]


def unique_name(prefix: str = "crdtest") -> str:
    """A name no other test uses, valid for every kind."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def rejection(call: Callable[[], Any]) -> str:
    """The message of the 422 the API server answers a call with."""
    with pytest.raises(ApiException) as caught:
        call()
    assert caught.value.status == 422, caught.value.body
    return str(json.loads(caught.value.body or "{}").get("message"))


# --- examples -----------------------------------------------------------------------------------


def _example_documents() -> list[tuple[str, Manifest]]:
    """Every manifest in examples/ (and its walk-throughs' directories), with an id for the
    test report."""
    examples = REPO_ROOT / "examples"
    return [
        (f"{path.relative_to(examples)}:{document['metadata']['name']}", document)
        for path in sorted([*examples.glob("*.yaml"), *examples.glob("joint-training/*.yaml")])
        for document in yaml.safe_load_all(path.read_text())
        if document
    ]


@pytest.mark.parametrize(
    "manifest", [doc for _, doc in _example_documents()], ids=[i for i, _ in _example_documents()]
)
def test_example_is_accepted_by_server_side_dry_run(
    api_client: client.ApiClient,
    installed_crds: list[str],
    consumer_namespace: str,
    manifest: Manifest,
) -> None:
    resource = dynamic.DynamicClient(api_client).resources.get(
        api_version=manifest["apiVersion"], kind=manifest["kind"]
    )
    applied = resource.server_side_apply(
        body=manifest,
        field_manager="tds-examples",
        dry_run="All",
        field_validation="Strict",
    ).to_dict()
    assert applied["metadata"]["name"] == manifest["metadata"]["name"]
    assert applied["spec"]


def test_server_applies_the_documented_defaults(objects: client.CustomObjectsApi) -> None:
    contract = create(
        objects,
        {
            "apiVersion": API_VERSION,
            "kind": "DataContract",
            "metadata": {"name": unique_name()},
            "spec": {
                "provider": {"space": "a", "datasets": ["d"]},
                "consumer": {"space": "b"},
                "validity": {"notAfter": "2027-01-01T00:00:00Z"},
                "compute": {"maxGpuHours": 1, "maxConcurrentGpus": 1},
            },
        },
    )["spec"]
    assert contract["purpose"] == "model-training"
    assert contract["egress"] == []
    assert contract["outputs"] == {"modelExport": "review"}
    assert contract["consent"] == {"provider": {"approved": False}, "consumer": {"approved": False}}
    assert contract["revoked"] is False


# --- invalid manifests --------------------------------------------------------------------------

DELETE = object()


@dataclass(frozen=True)
class Invalid:
    """A manifest derived from an example by `changes`, and what the server must say about it."""

    case: str
    base: str
    changes: dict[str, Any]
    expected: tuple[str, ...]
    keep_name: bool = field(default=False)

    def manifest(self, namespace: str) -> Manifest:
        """The invalid manifest, under a fresh name unless the name is what is wrong."""
        manifest = example(self.base)
        if not self.keep_name:
            manifest["metadata"]["name"] = unique_name()
        if manifest["kind"] == "TrainingJob":
            manifest["metadata"]["namespace"] = namespace
        for path, value in self.changes.items():
            *parents, last = [int(part) if part.isdigit() else part for part in path.split(".")]
            target: Any = manifest
            for part in parents:
                target = target[part]
            if value is DELETE:
                del target[last]
            elif isinstance(target, list) and last == len(target):
                target.append(value)
            else:
                target[last] = value
        return manifest


SPACE, CONTRACT, JOB = "sgcc", "sgcc-to-cmcc-load", "load-forecast-v1"

# A table reads best one case to a line or two; keep the formatter's hands off it.
# fmt: off
SERVICE = "spec.datasets.0.source.service"

INVALID = [
    # DataSpace
    Invalid("space-no-organization", SPACE, {"spec.organization": DELETE},
            ("spec.organization: Required value",)),
    Invalid("space-organization-not-text", SPACE, {"spec.organization": 42},
            ("spec.organization: Invalid value", "must be of type string")),
    Invalid("space-no-owners", SPACE, {"spec.owners": []},
            ("spec.owners", "should have at least 1 items")),
    Invalid("space-owner-kind", SPACE, {"spec.owners.0.kind": "ServiceAccount"},
            ('spec.owners[0].kind: Unsupported value: "ServiceAccount"', '"User", "Group"')),
    # THREATS F21: a catch-all subject would grant the space to a whole class of callers.
    Invalid("space-owner-everyone", SPACE,
            {"spec.owners.0": {"kind": "Group", "name": "system:authenticated"}},
            ("spec.owners[0].name", "stands for a whole class of callers")),
    Invalid("space-owner-anonymous", SPACE,
            {"spec.owners.0": {"kind": "User", "name": "system:anonymous"}},
            ("spec.owners[0].name", "stands for a whole class of callers")),
    Invalid("space-member-service-accounts-of-a-namespace", SPACE,
            {"spec.members": [{"kind": "Group", "name": "system:serviceaccounts:default"}]},
            ("spec.members[0].name", "stands for a whole class of callers")),
    Invalid("space-negative-cpu", SPACE, {"spec.quota.cpu": "-1"},
            ("spec.quota.cpu", "should match")),
    Invalid("space-memory-unit", SPACE, {"spec.quota.memory": "1TB"},
            ("spec.quota.memory", "should match")),
    Invalid("space-negative-gpu", SPACE, {"spec.quota.gpu": -1},
            ("spec.quota.gpu", "should be greater than or equal to 0")),
    Invalid("space-no-pods", SPACE, {"spec.quota.pods": 0},
            ("spec.quota.pods", "should be greater than or equal to 1")),
    Invalid("space-classification", SPACE, {"spec.datasets.0.classification": "secret"},
            ('spec.datasets[0].classification: Unsupported value: "secret"',)),
    Invalid("space-no-classification", SPACE, {"spec.datasets.0.classification": DELETE},
            ("spec.datasets[0].classification: Required value",)),
    Invalid("space-two-sources", SPACE,
            {"spec.datasets.0.source.volume": {"claimName": "grid-load"}},
            ("spec.datasets[0].source", "exactly one of service or volume must be set")),
    Invalid("space-no-source", SPACE, {"spec.datasets.0.source": {}},
            ("spec.datasets[0].source", "exactly one of service or volume must be set")),
    Invalid("space-duplicate-datasets", SPACE, {"spec.datasets.1.name": "grid-load-2025"},
            ("spec.datasets", "dataset names must be unique")),
    Invalid("space-port-range", SPACE, {f"{SERVICE}.port": 70000},
            ("spec.datasets[0].source.service.port", "should be less than or equal to 65535")),
    Invalid("space-service-name", SPACE, {f"{SERVICE}.name": "1gateway"},
            ("spec.datasets[0].source.service.name", "should match")),
    Invalid("space-dataset-name", SPACE, {"spec.datasets.0.name": "Grid_Load"},
            ("spec.datasets[0].name", "should match")),
    Invalid("space-sub-path-escapes", SPACE,
            {"spec.datasets.1.source.volume.subPath": "../secrets"},
            ("spec.datasets[1].source.volume.subPath", "should match")),
    Invalid("space-name-too-long", SPACE, {"metadata.name": "s" * 60},
            ("metadata.name", "must be at most 59", "tds-<name>"), keep_name=True),
    Invalid("space-name-with-dot", SPACE, {"metadata.name": "sgcc.prod"},
            ("metadata.name", "must be at most 59"), keep_name=True),
    # DataContract
    Invalid("contract-joint-partner-twice", CONTRACT,
            {"spec.jointTraining": {"allowed": True, "with": ["weather", "weather"]}},
            ("spec.jointTraining.with", "spaces must be unique")),
    Invalid("contract-with-itself", CONTRACT, {"spec.consumer.space": "sgcc"},
            ("spec.consumer.space", "must differ from provider.space")),
    Invalid("contract-window-reversed", CONTRACT,
            {"spec.validity.notAfter": "2026-11-01T00:00:00Z"},
            ("spec.validity.notAfter", "notAfter must be after notBefore")),
    Invalid("contract-window-empty", CONTRACT,
            {"spec.validity.notAfter": "2026-11-15T08:00:00+08:00"},
            ("spec.validity.notAfter", "notAfter must be after notBefore")),
    Invalid("contract-no-end", CONTRACT, {"spec.validity.notAfter": DELETE},
            ("spec.validity.notAfter: Required value",)),
    Invalid("contract-end-not-a-date", CONTRACT, {"spec.validity.notAfter": "next spring"},
            ("spec.validity.notAfter", "should match")),
    Invalid("contract-start-without-zone", CONTRACT,
            {"spec.validity.notBefore": "2026-11-15T00:00:00"},
            ("spec.validity.notBefore", "should match")),
    Invalid("contract-no-gpu-hours", CONTRACT, {"spec.compute.maxGpuHours": 0},
            ("spec.compute.maxGpuHours", "should be greater than 0")),
    Invalid("contract-negative-gpus", CONTRACT, {"spec.compute.maxConcurrentGpus": -16},
            ("spec.compute.maxConcurrentGpus", "should be greater than or equal to 1")),
    Invalid("contract-gpu-hours-text", CONTRACT, {"spec.compute.maxGpuHours": "500"},
            ("spec.compute.maxGpuHours", "must be of type number")),
    Invalid("contract-no-compute", CONTRACT, {"spec.compute": DELETE},
            ("spec.compute: Required value",)),
    Invalid("contract-purpose", CONTRACT, {"spec.purpose": "marketing"},
            ('spec.purpose: Unsupported value: "marketing"', '"model-training"')),
    Invalid("contract-model-export", CONTRACT, {"spec.outputs.modelExport": "sometimes"},
            ('spec.outputs.modelExport: Unsupported value: "sometimes"',)),
    Invalid("contract-duplicate-datasets", CONTRACT,
            {"spec.provider.datasets": ["grid-load-2025", "grid-load-2025"]},
            ("spec.provider.datasets", "dataset names must be unique")),
    Invalid("contract-no-datasets", CONTRACT, {"spec.provider.datasets": []},
            ("spec.provider.datasets", "should have at least 1 items")),
    Invalid("contract-cidr-prefix", CONTRACT, {"spec.egress.0.cidr": "10.20.30.0/33"},
            ("spec.egress[0].cidr", "must be an IPv4 or IPv6 CIDR")),
    Invalid("contract-cidr-mapped", CONTRACT, {"spec.egress.0.cidr": "::ffff:10.0.0.0/104"},
            ("spec.egress[0].cidr", "must be an IPv4 or IPv6 CIDR")),
    Invalid("contract-duplicate-ports", CONTRACT, {"spec.egress.0.ports": [443, 443]},
            ("spec.egress[0].ports", "ports must be unique")),
    Invalid("contract-port-zero", CONTRACT, {"spec.egress.0.ports": [0]},
            ("spec.egress[0].ports[0]", "should be greater than or equal to 1")),
    Invalid("contract-revoked-text", CONTRACT, {"spec.revoked": "yes"},
            ("spec.revoked", "must be of type boolean")),
    Invalid("contract-consent-text", CONTRACT, {"spec.consent.consumer.approved": "true"},
            ("spec.consent.consumer.approved", "must be of type boolean")),
    Invalid("contract-no-jobs", CONTRACT, {"spec.maxJobs": 0},
            ("spec.maxJobs", "should be greater than or equal to 1")),
    Invalid("contract-space-too-long", CONTRACT, {"spec.consumer.space": "c" * 60},
            ("spec.consumer.space", "Too long: may not be more than 59")),
    Invalid("contract-name-with-dots", CONTRACT, {"metadata.name": "sgcc.to.cmcc"},
            ("metadata.name", "DataContract must be at most 63"), keep_name=True),
    # TrainingJob
    Invalid("job-no-contract", JOB, {"spec.contract": DELETE},
            ("spec", "exactly one of contract", "not both and not neither")),
    Invalid("job-contract-and-contracts", JOB, {"spec.contracts": ["a-to-c", "b-to-c"]},
            ("spec", "exactly one of contract", "not both and not neither")),
    Invalid("job-joint-duplicate", JOB,
            {"spec.contract": DELETE, "spec.contracts": ["a-to-c", "a-to-c"]},
            ("spec.contracts", "contract names must be unique")),
    Invalid("job-joint-alone", JOB, {"spec.contract": DELETE, "spec.contracts": ["a-to-c"]},
            ("spec.contracts", "at least 2 items")),
    Invalid("job-joint-too-many", JOB,
            {"spec.contract": DELETE, "spec.contracts": [f"c{i}" for i in range(9)]},
            ("spec.contracts", "at most 8 items")),
    Invalid("job-no-workers", JOB, {"spec.workers": 0},
            ("spec.workers", "should be greater than or equal to 1")),
    Invalid("job-no-gpus", JOB, {"spec.gpusPerWorker": 0},
            ("spec.gpusPerWorker", "should be greater than or equal to 1")),
    Invalid("job-too-many-gpus", JOB, {"spec.gpusPerWorker": 17},
            ("spec.gpusPerWorker", "should be less than or equal to 16")),
    Invalid("job-workers-text", JOB, {"spec.workers": "2"},
            ("spec.workers", "must be of type integer")),
    Invalid("job-no-image", JOB, {"spec.image": DELETE}, ("spec.image: Required value",)),
    Invalid("job-image-with-space", JOB, {"spec.image": "registry.local/forecast 1.0"},
            ("spec.image", "should match")),
    Invalid("job-reserved-env", JOB, {"spec.env.1": {"name": "MASTER_ADDR", "value": "x"}},
            ("spec.env[1].name", "reserved for the operator's rendezvous settings")),
    Invalid("job-duplicate-env", JOB, {"spec.env.1": {"name": "HF_HUB_OFFLINE", "value": "0"}},
            ("spec.env", "env names must be unique")),
    Invalid("job-empty-datasets", JOB, {"spec.datasets": []},
            ("spec.datasets", "should have at least 1 items")),
    Invalid("job-duplicate-datasets", JOB, {"spec.datasets": ["a", "a"]},
            ("spec.datasets", "dataset names must be unique")),
    Invalid("job-too-short", JOB, {"spec.maxDurationSeconds": 30},
            ("spec.maxDurationSeconds", "should be greater than or equal to 60")),
    Invalid("job-purpose", JOB, {"spec.purpose": "fine-tuning"},
            ('spec.purpose: Unsupported value: "fine-tuning"',)),
    Invalid("job-name-starts-with-digit", JOB, {"metadata.name": "1st-run"},
            ("metadata.name", "TrainingJob must be at most 52", "starting with a letter"),
            keep_name=True),
    Invalid("job-name-too-long", JOB, {"metadata.name": "j" * 53},
            ("metadata.name", "TrainingJob must be at most 52"), keep_name=True),
]
# fmt: on


@pytest.mark.parametrize("invalid", INVALID, ids=[invalid.case for invalid in INVALID])
def test_invalid_manifest_is_rejected_with_a_clear_message(
    objects: client.CustomObjectsApi, job_namespace: str, invalid: Invalid
) -> None:
    manifest = invalid.manifest(job_namespace)
    message = rejection(lambda: create(objects, manifest))
    for expected in invalid.expected:
        assert expected in message, message


def test_there_are_enough_invalid_cases_for_every_kind() -> None:
    assert len(INVALID) >= 30
    assert {example(invalid.base)["kind"] for invalid in INVALID} == {
        "DataSpace",
        "DataContract",
        "TrainingJob",
    }


# --- transition rules: real objects, real updates -------------------------------------------------


@pytest.fixture
def stored(objects: client.CustomObjectsApi) -> Iterator[Callable[[Manifest], Manifest]]:
    """Create real objects under fresh names; delete them afterwards."""
    made: list[Manifest] = []

    def store(manifest: Manifest) -> Manifest:
        manifest["metadata"]["name"] = unique_name()
        made.append(create(objects, manifest, dry_run=False))
        return manifest

    yield store
    for manifest in made:
        resource = resource_for(manifest["kind"])
        name, namespace = manifest["metadata"]["name"], manifest["metadata"].get("namespace")
        try:
            if resource.namespaced:
                objects.delete_namespaced_custom_object(
                    resource.group, resource.version, namespace, resource.plural, name
                )
            else:
                objects.delete_cluster_custom_object(
                    resource.group, resource.version, resource.plural, name
                )
        except ApiException as error:
            if error.status != 404:
                raise


def patch(objects: client.CustomObjectsApi, manifest: Manifest, change: Manifest) -> Manifest:
    """Merge-patch a stored object and return the result."""
    resource = resource_for(manifest["kind"])
    name = manifest["metadata"]["name"]
    if resource.namespaced:
        return dict(
            objects.patch_namespaced_custom_object(
                resource.group,
                resource.version,
                manifest["metadata"]["namespace"],
                resource.plural,
                name,
                change,
            )
        )
    return dict(
        objects.patch_cluster_custom_object(
            resource.group, resource.version, resource.plural, name, change
        )
    )


FROZEN = "contract terms are immutable once either party has consented"


@pytest.mark.parametrize(
    "term_change",
    [
        {"compute": {"maxGpuHours": 5000}},
        {"validity": {"notAfter": "2028-01-01T00:00:00Z"}},
        {"provider": {"datasets": ["grid-load-2025", "grid-topology"]}},
        {"purpose": "analytics"},
        {"egress": []},
        {"maxJobs": None},
        {"outputs": {"modelExport": "allowed"}},
        {"jointTraining": {"allowed": True}},
    ],
    ids=[
        "compute",
        "validity",
        "datasets",
        "purpose",
        "egress",
        "maxJobs",
        "outputs",
        "jointTraining",
    ],
)
def test_terms_are_frozen_once_a_party_has_consented(
    objects: client.CustomObjectsApi,
    stored: Callable[[Manifest], Manifest],
    term_change: Manifest,
) -> None:
    contract = stored(example(CONTRACT))
    message = rejection(lambda: patch(objects, contract, {"spec": term_change}))
    assert f"spec: Forbidden: {FROZEN}" in message, message


def test_consent_and_revocation_still_change_after_consent(
    objects: client.CustomObjectsApi, stored: Callable[[Manifest], Manifest]
) -> None:
    contract = stored(example(CONTRACT))
    consent = {"provider": {"approved": True}, "consumer": {"approved": True}}
    assert patch(objects, contract, {"spec": {"consent": consent}})["spec"]["consent"] == consent
    withdrawn = patch(objects, contract, {"spec": {"consent": {"provider": {"approved": False}}}})
    assert withdrawn["spec"]["consent"]["provider"] == {"approved": False}
    assert patch(objects, contract, {"spec": {"revoked": True}})["spec"]["revoked"] is True


def test_terms_change_freely_before_anyone_consents(
    objects: client.CustomObjectsApi, stored: Callable[[Manifest], Manifest]
) -> None:
    proposal = example(CONTRACT)
    proposal["spec"]["consent"] = {"provider": {"approved": False}}
    contract = stored(proposal)
    changed = patch(objects, contract, {"spec": {"compute": {"maxGpuHours": 800}}})
    assert changed["spec"]["compute"]["maxGpuHours"] == 800
    consented = patch(objects, contract, {"spec": {"consent": {"provider": {"approved": True}}}})
    assert consented["spec"]["consent"]["provider"]["approved"] is True
    message = rejection(lambda: patch(objects, contract, {"spec": {"maxJobs": 21}}))
    assert FROZEN in message


def test_revocation_is_final(
    objects: client.CustomObjectsApi, stored: Callable[[Manifest], Manifest]
) -> None:
    revoked = example(CONTRACT)
    revoked["spec"]["revoked"] = True
    contract = stored(revoked)
    message = rejection(lambda: patch(objects, contract, {"spec": {"revoked": False}}))
    assert "spec.revoked: Forbidden: revoked cannot be set back to false" in message


def test_training_job_spec_is_immutable(
    objects: client.CustomObjectsApi,
    stored: Callable[[Manifest], Manifest],
    job_namespace: str,
) -> None:
    manifest = example(JOB)
    manifest["metadata"]["namespace"] = job_namespace
    job = stored(manifest)
    message = rejection(lambda: patch(objects, job, {"spec": {"workers": 4}}))
    assert "spec: Forbidden: spec of a TrainingJob is immutable" in message
    labelled = patch(objects, job, {"metadata": {"labels": {"team": "forecasting"}}})
    assert labelled["metadata"]["labels"] == {"team": "forecasting"}


def test_space_datasets_may_change(
    objects: client.CustomObjectsApi, stored: Callable[[Manifest], Manifest]
) -> None:
    space = stored(example("cma"))
    datasets = [
        *example("cma")["spec"]["datasets"],
        {
            "name": "radar-2025",
            "classification": "important",
            "source": {"volume": {"claimName": "radar"}},
        },
    ]
    changed = patch(objects, space, {"spec": {"datasets": datasets}})
    assert [d["name"] for d in changed["spec"]["datasets"]] == [
        "station-observations-2025",
        "radar-2025",
    ]
