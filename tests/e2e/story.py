"""The story of the trusted data space, told with examples/ and checked as users would check it.

Spaces are created by the platform team, contracts proposed, signed and revoked by the owners of
the spaces (`kubectl --as`), and every outcome is read back with kubectl: conditions, namespaces,
policies, bindings, Events, the audit ledger, and what the admission webhooks answer.

`Story(suffix=...)` renames every object so that runs never meet; `walk()` raises `StoryFailed`
naming the first step whose outcome did not show up in time.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.hubkit.manifests import condition, manifest_step_ended, rfc3339
from bench.hubkit.waiting import wait_until
from tds_operator.desired.cleanroom import clean_room_namespace, provider_policy_name
from tds_operator.desired.gateway import gateway_name
from tds_operator.desired.grants import grant_name, worker_identity
from tds_operator.output_manifest import manifest_entries
from tds_operator.policy.manifest import termination_message
from tds_operator.policy.proposals import contract_name as relayed_contract_name
from tests.e2e.cluster import (
    NAMESPACE,
    CommandError,
    Manifest,
    get,
    items,
    kubeconfig,
    kubectl,
    kueue_mode,
    load_example,
    may_get_dataset,
)
from tests.e2e.gateway_read import GatewayRead, pods_run

LEDGER_LABEL = "tds.io/audit-ledger"
# The worker that stands in for a trainer on a real cluster: it waits, and ends at SIGTERM as a
# training program does. A process that ignores SIGTERM (as `sleep` does as a container's PID 1)
# runs on until the kubelet's SIGKILL, never sooner than 2 s after the SIGTERM whatever the pod's
# grace period (the kubelet's minimum).
STAND_IN_WORKER = [
    "python3",
    "-c",
    "import os, signal\nsignal.signal(signal.SIGTERM, lambda *_: os._exit(143))\nsignal.pause()",
]

# RBAC's refusals, and the confinement policy's (the API server answers those as invalid), in
# the operator's log.
FORBIDDEN = re.compile(r"forbidden|Not enough permissions|denied request", re.IGNORECASE)


class StoryFailed(AssertionError):
    """A step of the story did not have its outcome."""

    def __init__(self, step: str, cause: BaseException) -> None:
        super().__init__(f"step {step!r}: {cause}")
        self.step = step


@dataclass(frozen=True)
class Person:
    """Someone kubectl impersonates; the cluster admin when `user` is empty."""

    user: str = ""
    groups: tuple[str, ...] = ()

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        return kubectl(*args, user=self.user or None, groups=self.groups, stdin=stdin)

    def can(self, verb: str, resource: str, namespace: str) -> bool:
        answer = kubectl(
            "auth",
            "can-i",
            verb,
            resource,
            "-n",
            namespace,
            user=self.user,
            groups=self.groups,
            check=False,
        )
        return answer.strip() == "yes"


PLATFORM_TEAM = Person()


@dataclass
class Story:
    """One walk through the story; `suffix` keeps its objects apart from other walks'."""

    suffix: str = ""
    timeout: float = 60.0
    done: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.spaces = [self._renamed(d) for d in load_example("01-dataspaces.yaml")]
        self.contract = self._renamed(load_example("02-datacontract.yaml")[0])
        self.job = self._renamed(load_example("03-trainingjob.yaml")[0])
        self.release = self._renamed(load_example("04-modelrelease.yaml")[0])
        # Simulated workers (the local hub) run until stopped; on a real cluster the image must
        # exist: TDS_E2E_TRAINING_IMAGE names one that can stand in for the trainer.
        annotations = self.job["metadata"].setdefault("annotations", {})
        annotations["hub.tds.io/run-for"] = "1h"
        if os.environ.get("TDS_E2E_TRAINING_IMAGE"):
            self.job["spec"].update(
                image=os.environ["TDS_E2E_TRAINING_IMAGE"], command=STAND_IN_WORKER, args=[]
            )
        now = datetime.now(UTC)
        # The example's dates are a real winter; the story runs today, inside its window.
        self.contract["spec"]["validity"] = {
            "notBefore": rfc3339(now - timedelta(hours=1)),
            "notAfter": rfc3339(now + timedelta(days=90)),
        }

    # --- names -----------------------------------------------------------------------------

    def name(self, base: str) -> str:
        return f"{base}{self.suffix}"

    def _renamed(self, doc: Manifest) -> Manifest:
        doc = copy.deepcopy(doc)
        doc["metadata"]["name"] = self.name(doc["metadata"]["name"])
        spec = doc.get("spec") or {}
        if doc["kind"] == "DataContract":
            for party in ("provider", "consumer"):
                spec[party]["space"] = self.name(spec[party]["space"])
        if doc["kind"] == "TrainingJob":
            doc["metadata"]["namespace"] = self.name(doc["metadata"]["namespace"])
            spec["contract"] = self.name(spec["contract"])
        if doc["kind"] == "ModelRelease":
            doc["metadata"]["namespace"] = self.name(doc["metadata"]["namespace"])
            spec["trainingJob"] = self.name(spec["trainingJob"])
        return doc

    @property
    def provider(self) -> str:
        return str(self.contract["spec"]["provider"]["space"])

    @property
    def consumer(self) -> str:
        return str(self.contract["spec"]["consumer"]["space"])

    @property
    def contract_name(self) -> str:
        return str(self.contract["metadata"]["name"])

    @property
    def clean_room(self) -> str:
        return clean_room_namespace(self.contract_name)

    @property
    def provider_policy(self) -> str:
        """The provider space's NetworkPolicy that admits the clean room (the operator shortens
        both names with a digest when a long contract name would make them too long)."""
        return provider_policy_name(self.contract_name)

    def owner(self, space: str) -> Person:
        """An owner of a space, as the example names them (a user, or someone in the group)."""
        doc = next(d for d in self.spaces if d["metadata"]["name"] == space)
        first = doc["spec"]["owners"][0]
        if first["kind"] == "User":
            return Person(first["name"])
        return Person(f"{first['name']}-lead", (first["name"],))

    # --- observation -----------------------------------------------------------------------

    def wait(self, probe: Callable[[], Any], what: str) -> Any:
        return wait_until(probe, timeout=self.timeout, interval=0.25, what=what)

    def wait_gone(self, kind: str, name: str, namespace: str | None = None) -> None:
        self.wait(lambda: get(kind, name, namespace) is None, f"{kind} {name} to be gone")

    def contract_body(self) -> Manifest | None:
        return get("datacontract", self.contract_name)

    def wait_phase(self, phase: str) -> Manifest:
        def reached() -> Manifest | None:
            body = self.contract_body()
            return body if ((body or {}).get("status") or {}).get("phase") == phase else None

        body: Manifest = self.wait(reached, f"contract {self.contract_name} to be {phase}")
        return body

    def job_status(self) -> Manifest:
        meta = self.job["metadata"]
        status: Manifest = (get("trainingjob", meta["name"], meta["namespace"]) or {}).get(
            "status"
        ) or {}
        return status

    def job_phase(self) -> str | None:
        phase = self.job_status().get("phase")
        return str(phase) if phase else None

    def events_about(self, kind: str, name: str) -> list[Manifest]:
        selector = f"involvedObject.kind={kind},involvedObject.name={name}"
        found: list[Manifest] = json.loads(
            kubectl("get", "events", "-A", "--field-selector", selector, "-o", "json")
        )["items"]
        return found

    def contract_events_seen_by_both_parties(self) -> bool:
        """Each party's owner reads the contract's Events in its own space's namespace."""
        selector = f"involvedObject.kind=DataContract,involvedObject.name={self.contract_name}"
        return all(
            json.loads(
                self.owner(space).kubectl(
                    "get",
                    "events",
                    "-n",
                    f"tds-{space}",
                    "--field-selector",
                    selector,
                    "-o",
                    "json",
                )
            )["items"]
            for space in (self.provider, self.consumer)
        )

    def ledger_pages(self) -> list[Manifest]:
        selector = f"{LEDGER_LABEL}=true,tds.io/contract={self.contract_name}"
        return items("configmap", NAMESPACE, selector)

    # --- the story ---------------------------------------------------------------------------

    def walk(self) -> None:
        """Every step in order; StoryFailed names the first whose outcome did not appear."""
        for step in (
            self.spaces_are_provisioned,
            self.spaces_are_isolated_and_repaired,
            self.provider_proposes,
            self.consumer_consents,
            self.consumer_trains,
            self.provider_revokes,
            self.consumer_takes_the_model,
            self.everything_is_deleted,
        ):
            try:
                step()
            except (AssertionError, CommandError) as error:
                raise StoryFailed(step.__name__, error) from error
            self.done.append(step.__name__)

    def spaces_are_provisioned(self) -> None:
        """The platform team applies the spaces; each is Ready with its guard rails."""
        PLATFORM_TEAM.kubectl("apply", "-f", "-", stdin=yaml_docs(self.spaces))
        for doc in self.spaces:
            space = doc["metadata"]["name"]

            def ready(space: str = space) -> bool:
                body = get("dataspace", space)
                ready = condition(body, "Ready")
                return bool(
                    body
                    and ready
                    and ready["status"] == "True"
                    and body["status"].get("observedGeneration") == body["metadata"]["generation"]
                )

            self.wait(ready, f"DataSpace {space} Ready")
            namespace = f"tds-{space}"
            ns = get("namespace", namespace)
            assert ns is not None
            labels = ns["metadata"]["labels"]
            assert labels.get("pod-security.kubernetes.io/enforce") == "restricted", labels
            assert get("networkpolicy", "tds-default-deny", namespace) is not None
            owners = get("rolebinding", "tds-owners", namespace)
            assert owners is not None
            assert owners["roleRef"]["name"] == "tds-space-owner", owners
            self.wait(
                lambda space=space: self.events_about("DataSpace", space),
                f"an Event about DataSpace {space}",
            )
        quota = get("resourcequota", "tds-quota", f"tds-{self.provider}")
        assert quota is not None
        assert quota["spec"]["hard"].get("requests.nvidia.com/gpu") == "16", quota["spec"]

    def spaces_are_isolated_and_repaired(self) -> None:
        """Owners act only in their own space and cannot loosen its guard rails; drift heals."""
        owner, provider_ns, consumer_ns = (
            self.owner(self.provider),
            f"tds-{self.provider}",
            f"tds-{self.consumer}",
        )
        assert owner.can("create", "pods", provider_ns)
        assert not owner.can("create", "pods", consumer_ns)
        assert not owner.can("delete", "networkpolicies", provider_ns)
        before = get("networkpolicy", "tds-default-deny", provider_ns)
        assert before is not None
        PLATFORM_TEAM.kubectl("delete", "networkpolicy", "tds-default-deny", "-n", provider_ns)
        self.wait(
            lambda: (
                (get("networkpolicy", "tds-default-deny", provider_ns) or {})
                .get("metadata", {})
                .get("uid")
                not in (None, before["metadata"]["uid"])
            ),
            "the deleted default-deny policy to be restored",
        )
        # The consumer's members leave: their bindings go, in the space and at cluster scope.
        assert get("rolebinding", "tds-members", consumer_ns) is not None
        PLATFORM_TEAM.kubectl(
            "patch", "dataspace", self.consumer, "--type=merge", "-p", '{"spec":{"members":[]}}'
        )
        self.wait_gone("rolebinding", "tds-members", consumer_ns)
        self.wait_gone("clusterrolebinding", f"tds-space-{self.consumer}-members")

    def provider_proposes(self) -> None:
        """The provider's owner serves its dataset and proposes the contract, signing it, by
        applying a ContractProposal."""
        owner = self.owner(self.provider)
        gateway = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "grid-load-gateway", "namespace": f"tds-{self.provider}"},
            "spec": {
                "selector": {"app": "grid-load-gateway"},
                "ports": [{"port": 8443, "targetPort": 9443}],
            },
        }
        owner.kubectl("apply", "-f", "-", stdin=json.dumps(gateway))
        owner.kubectl("apply", "-f", "-", stdin=json.dumps(self.archive.claim()))
        if pods_run():
            self.archive.fill(owner)
        # Proposed declaratively, as a GitOps tool would: a ContractProposal applied in the
        # provider's own namespace, relayed by the operator to the contract it names in status.
        name, namespace = self.contract_name, f"tds-{self.provider}"
        proposal = {
            "apiVersion": "tds.io/v1alpha1",
            "kind": "ContractProposal",
            "metadata": {"name": name, "namespace": namespace},
            "spec": self.contract["spec"],
        }
        # The contract's name is the proposal's, derived from the provider's space: known (and
        # cleaned up) even if the walk breaks before the proposal's status says it.
        relayed = relayed_contract_name(self.provider, name)
        self.contract["metadata"]["name"] = relayed
        self.job["spec"]["contract"] = relayed
        owner.kubectl("apply", "-f", "-", stdin=json.dumps(proposal))
        self.wait(
            lambda: (
                (get("contractproposal", name, namespace) or {}).get("status", {}).get("contract")
                == relayed
            ),
            f"the proposal relayed to its contract {relayed}",
        )
        body = self.wait_phase("Proposed")
        # Each party's owners reach the contract by name; nobody lists contracts.
        reference = f"datacontracts.tds.io/{self.contract_name}"
        for space in (self.provider, self.consumer):
            self.wait(
                lambda s=space: self.owner(s).can("patch", reference, f"tds-{s}"),
                f"{space}'s owners to reach the contract",
            )
            assert not self.owner(space).can("list", "datacontracts.tds.io", f"tds-{space}")
            # They list it among their space's Contracts, the operator's copies.
            self.wait(
                lambda s=space: (
                    f"contract.tds.io/{self.contract_name}"
                    in self.owner(s).kubectl("get", "contracts", "-n", f"tds-{s}", "-o", "name")
                ),
                f"{space}'s owners to list the contract",
            )
        self.wait(
            lambda: [
                s
                for s in (self.contract_body() or {}).get("status", {}).get("signatures") or []
                if s.get("party") == "provider" and s.get("user") == owner.user
            ],
            "the provider's signature in status",
        )
        # Only the consumer's owners may consent for the consumer: the webhook says no.
        refused(
            lambda: owner.kubectl(
                "patch",
                "datacontract",
                self.contract_name,
                "--type=merge",
                "-p",
                '{"spec":{"consent":{"consumer":{"approved":true}}}}',
            ),
            'admission webhook "contract-consent.tds.io" denied',
        )
        assert body["status"]["phase"] == "Proposed"

    def consumer_consents(self) -> None:
        """The consumer's owner consents: Active, clean room open, recorded and reported."""
        self.owner(self.consumer).kubectl(
            "patch",
            "datacontract",
            self.contract_name,
            "--type=merge",
            "-p",
            '{"spec":{"consent":{"consumer":{"approved":true}}}}',
        )
        body = self.wait_phase("Active")
        parties = {s["party"]: s["user"] for s in body["status"].get("signatures") or []}
        assert parties == {
            "provider": self.owner(self.provider).user,
            "consumer": self.owner(self.consumer).user,
        }, parties
        self.wait(lambda: get("namespace", self.clean_room), f"clean room {self.clean_room}")
        self.wait(
            lambda: get("networkpolicy", self.provider_policy, f"tds-{self.provider}"),
            "the provider space to admit the clean room",
        )
        self.wait(self.ledger_pages, "the contract's audit ledger")
        self.dataset_access_is_granted()
        self.wait(
            self.contract_events_seen_by_both_parties,
            "an Event about the contract in both parties' namespaces",
        )
        # A space that is party to an active contract cannot be deleted: the webhook says no.
        refused(
            lambda: PLATFORM_TEAM.kubectl("delete", "dataspace", self.provider, "--dry-run=server"),
            'admission webhook "space-deletion.tds.io" denied',
        )

    @property
    def archive(self) -> GatewayRead:
        """The contract's dataset on a volume, and a clean-room reader of it (on kind)."""
        return GatewayRead(f"tds-{self.provider}", self.clean_room, "grid-load-archive")

    def gateway(self, dataset: str) -> str:
        """The name of the contract's gateway for `dataset` (after the contract's uid)."""
        contract = get("datacontract", self.contract_name)
        assert contract is not None, f"DataContract {self.contract_name}"
        return gateway_name(contract["metadata"]["uid"], dataset)

    def dataset_access_is_granted(self) -> None:
        """The clean room may get the contract's datasets, by name, and its volume dataset is
        served by a gateway; the core dataset is neither."""
        provider_ns = f"tds-{self.provider}"
        grant = grant_name(self.contract_name)
        self.wait(lambda: get("rolebinding", grant, provider_ns), "the clean room's dataset grant")
        worker = worker_identity(self.contract_name)
        for dataset in ("grid-load-2025", "grid-load-2024"):
            assert may_get_dataset(worker, dataset, provider_ns), dataset
        assert not may_get_dataset(worker, "grid-topology", provider_ns)
        gateway = self.gateway("grid-load-2024")
        self.wait(lambda: get("deployment", gateway, provider_ns), "the volume dataset's gateway")
        self.wait(lambda: get("service", gateway, provider_ns), "the gateway's Service")
        if pods_run():
            self.wait(lambda: self.archive.read(gateway) == "ok", "bytes read through the gateway")

    def dataset_access_is_taken_back(self) -> None:
        """Revoked: the grant and the gateway are gone, and a read is refused."""
        provider_ns = f"tds-{self.provider}"
        gateway = self.gateway("grid-load-2024")
        if pods_run():
            self.wait(lambda: self.archive.read(gateway) == "refused", "a read refused")
        self.wait_gone("rolebinding", grant_name(self.contract_name), provider_ns)
        worker = worker_identity(self.contract_name)
        assert not may_get_dataset(worker, "grid-load-2025", provider_ns)
        self.wait_gone("deployment", gateway, provider_ns)
        self.wait_gone("service", gateway, provider_ns)

    def consumer_trains(self) -> None:
        """The consumer's owner submits the TrainingJob: it runs as a batch Job in the clean
        room, on the GPU pool, metered."""
        owner = self.owner(self.consumer)
        namespace, name = self.job["metadata"]["namespace"], self.job["metadata"]["name"]
        owner.kubectl("apply", "-f", "-", stdin=json.dumps(self.job))
        self.wait(lambda: self.job_phase() == "Running", f"TrainingJob {name} Running")
        batch = get("job", name, self.clean_room)
        assert batch is not None, f"no batch Job {name} in {self.clean_room}"
        assert batch["spec"]["parallelism"] == self.job["spec"]["workers"], batch["spec"]
        if kueue_mode():
            self.admitted_by_kueue(batch)
        # The job is Running once one worker runs: the others may still be being placed.
        workers = self.job["spec"]["workers"]

        def placed() -> list[Manifest] | None:
            pods = items("pod", self.clean_room, f"job-name={name}")
            scheduled = [p for p in pods if p["spec"].get("nodeName")]
            return pods if len(scheduled) >= workers else None

        pods = self.wait(placed, f"TrainingJob {name}'s {workers} workers placed")
        assert len(pods) == workers, [p["metadata"]["name"] for p in pods]
        for pod in pods:
            node = get("node", pod["spec"]["nodeName"])
            assert node is not None
            labels = node["metadata"]["labels"]
            assert labels.get("hub.tds.io/pool") == "gpu", (pod["metadata"]["name"], labels)
            # No resolver in the clean room: addresses are IPs.
            assert pod["spec"]["dnsPolicy"] == "None", pod["spec"].get("dnsConfig")
            env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
            ipaddress.ip_address(env["MASTER_ADDR"])
            for endpoint in json.loads(env["TDS_DATASET_ENDPOINTS"]).values():
                ipaddress.ip_address(endpoint["address"].rsplit(":", 1)[0])
        assert get("networkpolicy", "tds-allow-dns", self.clean_room) is None
        assert not get("job", name, namespace), "the training ran in the consumer's space"
        self.wait(lambda: self.job_status().get("gpuSeconds", 0) > 0, "GPU-seconds metered")

    def admitted_by_kueue(self, batch: Manifest) -> None:
        """With Kueue: the batch Job waited on the clean room's LocalQueue, and Kueue admitted
        its Workload into the consumer's ClusterQueue once the contract check said Ready."""
        name = batch["metadata"]["name"]
        assert batch["metadata"]["labels"].get("kueue.x-k8s.io/queue-name") == "tds-jobs", batch[
            "metadata"
        ]
        assert batch["spec"].get("suspend") is False, "Kueue did not start the batch Job"
        workloads = [
            w
            for w in items("workloads.kueue.x-k8s.io", self.clean_room)
            if any(o["name"] == name for o in w["metadata"].get("ownerReferences") or [])
        ]
        assert len(workloads) == 1, f"{len(workloads)} Workloads of batch Job {name}"
        status = workloads[0].get("status") or {}
        assert (condition(workloads[0], "Admitted") or {}).get("status") == "True", status
        checks = {c["name"]: c["state"] for c in status.get("admissionChecks") or []}
        assert checks == {"tds-contract": "Ready"}, checks
        assert status["admission"]["clusterQueue"] == f"tds-{self.consumer}", status["admission"]

    def provider_revokes(self) -> None:
        """The provider's owner revokes: access ends at once and the ledger still verifies."""
        entries = self.wait_phase("Active")["status"]["audit"]["entries"]
        self.owner(self.provider).kubectl(
            "patch",
            "datacontract",
            self.contract_name,
            "--type=merge",
            "-p",
            '{"spec":{"revoked":true}}',
        )
        self.wait_phase("Revoked")
        self.wait(lambda: self.job_phase() == "Stopped", "the TrainingJob to be Stopped")
        stopped = condition({"status": self.job_status()}, "Finished") or {}
        assert "Revoked" in stopped.get("message", ""), self.job_status().get("conditions")
        self.wait_gone("job", self.job["metadata"]["name"], self.clean_room)
        self.wait_gone("networkpolicy", self.provider_policy, f"tds-{self.provider}")
        self.dataset_access_is_taken_back()
        self.wait(
            lambda: (self.contract_body() or {})["status"]["audit"]["entries"] > entries,
            "the revocation in the audit ledger",
        )
        self.wait(
            lambda: any(
                e["type"] == "Warning"
                for e in self.events_about("DataContract", self.contract_name)
            ),
            "a Warning Event about the revocation",
        )
        verify = subprocess.run(
            [sys.executable, "-m", "tds_operator", "audit", "verify", self.contract_name],
            env={**os.environ, "KUBECONFIG": kubeconfig(), "TDS_NAMESPACE": NAMESPACE},
            capture_output=True,
            text=True,
            check=False,
        )
        assert verify.returncode == 0, verify.stdout + verify.stderr

    def consumer_takes_the_model(self) -> None:
        """The stopped job's output waits, Quarantined; the consumer's owner asks for it, the
        provider's owner approves (the contract is revoked: review it is), and the very volume
        the job wrote is bound in the consumer's namespace; then the clean room goes."""
        if os.environ.get("TDS_E2E_OPERATOR", "local") == "local":
            self.end_manifest_step_as_the_kubelet()
        self.wait(
            lambda: (self.job_status().get("output") or {}).get("state") == "Quarantined",
            "the job's output Quarantined",
        )
        digest = self.job_status()["output"]["manifestDigest"]
        assert str(digest).startswith("sha256:"), self.job_status()["output"]
        namespace, name = self.release["metadata"]["namespace"], self.release["metadata"]["name"]
        self.owner(self.consumer).kubectl("create", "-f", "-", stdin=json.dumps(self.release))

        def phase() -> str | None:
            body = get("modelrelease", name, namespace) or {}
            return (body.get("status") or {}).get("phase")

        self.wait(lambda: phase() == "AwaitingReview", f"ModelRelease {name} AwaitingReview")
        self.owner(self.provider).kubectl(
            "patch",
            "modelrelease",
            name,
            "-n",
            namespace,
            "--type=merge",
            "-p",
            '{"spec":{"review":{"decision":"Approved"}}}',
        )
        self.wait(lambda: phase() == "Released", f"ModelRelease {name} Released")
        body = get("modelrelease", name, namespace) or {}
        claim = get("pvc", name, namespace) or {}
        assert claim["spec"]["volumeName"] == body["status"]["volume"], (claim, body["status"])
        assert body["spec"]["review"]["reviewer"]["user"] == self.owner(self.provider).user
        assert body["spec"]["review"]["manifestDigest"] == digest
        self.wait_gone("namespace", self.clean_room)

    def end_manifest_step_as_the_kubelet(self) -> None:
        """The local hub's pods are simulated: the operator's manifest step never runs. As the
        platform team standing in for the kubelet, end it with the message the real step writes
        for a directory here (on a real cluster the step runs on the output itself)."""
        pod = f"{self.job['metadata']['name']}-manifest"
        self.wait(
            lambda: (
                ((get("pod", pod, self.clean_room) or {}).get("status") or {}).get("phase")
                == "Running"
            ),
            f"the manifest step {pod} running",
        )
        with tempfile.TemporaryDirectory() as directory:
            (Path(directory) / "model.bin").write_bytes(b"weights")
            message = termination_message(manifest_entries(Path(directory)))
        status = manifest_step_ended(message)
        PLATFORM_TEAM.kubectl(
            "patch",
            "pod",
            pod,
            "-n",
            self.clean_room,
            "--subresource=status",
            "--type=merge",
            "-p",
            json.dumps(status),
        )

    def everything_is_deleted(self) -> None:
        """Deleting the contract and the spaces removes everything they made."""
        # Not waiting in kubectl: a finalizer the operator cannot remove would hold it forever.
        job, namespace = self.job["metadata"]["name"], self.job["metadata"]["namespace"]
        PLATFORM_TEAM.kubectl(
            "delete", "trainingjob", job, "-n", namespace, "--ignore-not-found", "--wait=false"
        )
        self.wait_gone("trainingjob", job, namespace)
        PLATFORM_TEAM.kubectl("delete", "datacontract", self.contract_name, "--wait=false")
        self.wait_gone("datacontract", self.contract_name)
        for doc in self.spaces:
            space = doc["metadata"]["name"]
            PLATFORM_TEAM.kubectl("delete", "dataspace", space, "--wait=false")
        for doc in self.spaces:
            space = doc["metadata"]["name"]
            self.wait_gone("dataspace", space)
            self.wait_gone("namespace", f"tds-{space}")
            bindings = f"tds.io/space={space}"
            self.wait(
                lambda bindings=bindings: not items("clusterrolebinding", selector=bindings),
                f"the cluster role bindings of {space} to be gone",
            )

    # --- cleanup after a failed walk ---------------------------------------------------------

    def force_cleanup(self, *, keep_ledger: bool = True, wait: bool = True) -> None:
        """Remove whatever a walk left, as the platform team, finalizers included; with `wait`,
        until its namespaces are gone too (a walk with a suffix of its own need not wait)."""
        job = self.job["metadata"]
        # The provider's proposals first: one left would be relayed into a contract again once the
        # operator can (a walk broken by a missing right, restored after it), which no one deletes.
        provider_namespace = f"tds-{self.provider}"
        proposals = [
            ("contractproposal", p["metadata"]["name"], provider_namespace)
            for p in items("contractproposal", provider_namespace)
        ]
        # In this order: a space cannot be deleted while a live contract names it (webhook).
        for kind, name, namespace in [
            *proposals,
            ("trainingjob", job["name"], job["namespace"]),
            ("datacontract", self.contract_name, None),
            *(("dataspace", d["metadata"]["name"], None) for d in self.spaces),
        ]:
            wait_until(
                lambda kind=kind, name=name, namespace=namespace: _force_delete(
                    kind, name, namespace
                ),
                timeout=60,
                interval=1,
                what=f"{kind} {name} to be gone",
            )
        # A relay under way as its proposal went may have made the contract after its turn.
        wait_until(
            lambda: _force_delete("datacontract", self.contract_name, None),
            timeout=60,
            interval=1,
            what=f"datacontract {self.contract_name} to be gone",
        )
        namespaces = [f"tds-{d['metadata']['name']}" for d in self.spaces] + [self.clean_room]
        for namespace in namespaces:
            kubectl("delete", "namespace", namespace, "--ignore-not-found", "--wait=false")
        for doc in self.spaces:
            kubectl(
                "delete",
                "clusterrolebinding",
                "-l",
                f"tds.io/space={doc['metadata']['name']}",
                check=False,
            )
        if not keep_ledger:
            kubectl(
                "delete",
                "configmap",
                "-n",
                NAMESPACE,
                "-l",
                f"{LEDGER_LABEL}=true,tds.io/contract={self.contract_name}",
            )
        for namespace in namespaces if wait else []:
            wait_until(
                lambda namespace=namespace: get("namespace", namespace) is None,
                timeout=120,
                what=f"namespace {namespace} to be gone",
            )


def _force_delete(kind: str, name: str, namespace: str | None) -> bool:
    """Delete an object and drop its finalizers; True once it is gone."""
    scope = ["-n", namespace] if namespace else []
    if get(kind, name, namespace) is None:
        return True
    kubectl("delete", kind, name, *scope, "--wait=false", check=False)
    patch = '{"metadata":{"finalizers":null}}'
    kubectl("patch", kind, name, *scope, "--type=merge", "-p", patch, check=False)
    return get(kind, name, namespace) is None


def refused(request: Callable[[], object], answer: str, *or_answers: str) -> None:
    """The request fails, and the API server's answer contains `answer` (or one of `or_answers`:
    where two admission policies refuse the same request, either may be the one reported)."""
    answers = (answer, *or_answers)
    try:
        request()
    except CommandError as refusal:
        if not any(a in str(refusal) for a in answers):
            raise AssertionError(f"refused, but not with {answers!r}: {refusal}") from None
        return
    raise AssertionError(f"not refused (expected {answers!r})")


def yaml_docs(docs: list[Manifest]) -> str:
    """A kubectl-readable stream of several objects (a JSON List)."""
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": docs})
