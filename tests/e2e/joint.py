"""The story of three organisations training one model, told with examples/joint-training/.

Two providers (sgcc, cma) each contract with one consumer (cmcc), each allowing its data to be
trained together with the other's; cmcc's joint TrainingJob runs to its end, both contracts are
charged its GPU-seconds, and its model leaves only as every contract's outputs clause allows.
Every object is renamed with a suffix (as `Story` renames its own) so that it never meets the
demo's or another walk's.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.hubkit.manifests import manifest_step_ended, rfc3339
from tds_operator.output_manifest import manifest_entries
from tds_operator.policy.manifest import termination_message
from tests.e2e.cluster import (
    NAMESPACE,
    Manifest,
    get,
    kubeconfig,
    kubectl,
    kubectl_binary,
    load_example,
)
from tests.e2e.gateway_read import GatewayRead
from tests.e2e.story import LEDGER_LABEL, PLATFORM_TEAM, Story, _force_delete

EXAMPLES = "joint-training"
CONSENT = '{"spec":{"consent":{"consumer":{"approved":true}}}}'


class JointStory(Story):
    """The spaces of examples/01-dataspaces.yaml and the joint example on top of them."""

    def __post_init__(self) -> None:
        super().__post_init__()
        now = datetime.now(UTC)
        self.contracts = []
        for doc in load_example(f"{EXAMPLES}/01-datacontracts.yaml"):
            doc = copy.deepcopy(doc)
            spec = doc["spec"]
            doc["metadata"]["name"] = self.name(doc["metadata"]["name"])
            for party in ("provider", "consumer"):
                spec[party]["space"] = self.name(spec[party]["space"])
            joint = spec["jointTraining"]
            if joint.get("with"):
                joint["with"] = [self.name(space) for space in joint["with"]]
            # The example's dates are a real season; the walk runs today, inside its window.
            spec["validity"] = {
                "notBefore": rfc3339(now - timedelta(hours=1)),
                "notAfter": rfc3339(now + timedelta(days=90)),
            }
            self.contracts.append(doc)
        self.joint_job = load_example(f"{EXAMPLES}/02-trainingjob.yaml")[0]
        self.joint_job["metadata"]["namespace"] = self.name(self.joint_job["metadata"]["namespace"])
        self.joint_job["spec"]["contracts"] = [
            self.name(c) for c in self.joint_job["spec"]["contracts"]
        ]
        # Simulated workers (the local hub) end after run-for; on a real cluster the stand-in
        # image sleeps as long.
        self.joint_job["metadata"].setdefault("annotations", {})["hub.tds.io/run-for"] = "5s"
        if os.environ.get("TDS_E2E_TRAINING_IMAGE"):
            self.joint_job["spec"].update(
                image=os.environ["TDS_E2E_TRAINING_IMAGE"], command=["sleep", "5"], args=[]
            )
        self.joint_release = load_example(f"{EXAMPLES}/03-modelrelease.yaml")[0]
        self.joint_release["metadata"]["namespace"] = self.joint_job["metadata"]["namespace"]

    @property
    def where(self) -> str:
        return str(self.joint_job["metadata"]["namespace"])

    @property
    def job_name(self) -> str:
        return str(self.joint_job["metadata"]["name"])

    def by_provider(self, space: str) -> Manifest:
        return next(c for c in self.contracts if c["spec"]["provider"]["space"] == self.name(space))

    def joint_status(self) -> Manifest:
        return (get("trainingjob", self.job_name, self.where) or {}).get("status") or {}

    def walk_joint(self) -> None:
        """Spaces, both contracts, the joint job to its end, its model released, the record."""
        for step in (
            self.spaces_are_provisioned,
            self.providers_propose_and_consumer_consents,
            self.consumer_trains_jointly,
            self.every_contract_releases_the_model,
            self.both_contracts_show_the_job,
        ):
            step()
            self.done.append(step.__name__)

    def providers_propose_and_consumer_consents(self) -> None:
        """Each provider's owner serves its dataset (sgcc's gateway Service, cma's volume) and
        creates its own contract; cmcc's owner consents to both."""
        sgcc, cma = self.owner(self.name("sgcc")), self.owner(self.name("cma"))
        gateway = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "grid-load-gateway", "namespace": f"tds-{self.name('sgcc')}"},
            "spec": {
                "selector": {"app": "grid-load-gateway"},
                "ports": [{"port": 8443, "targetPort": 9443}],
            },
        }
        sgcc.kubectl("apply", "-f", "-", stdin=json.dumps(gateway))
        volume = GatewayRead(f"tds-{self.name('cma')}", "", "station-observations").claim()
        cma.kubectl("apply", "-f", "-", stdin=json.dumps(volume))
        for doc in self.contracts:
            self.owner(doc["spec"]["provider"]["space"]).kubectl(
                "create", "-f", "-", stdin=json.dumps(doc)
            )
        for doc in self.contracts:
            name = doc["metadata"]["name"]
            consumer = doc["spec"]["consumer"]["space"]
            # The consumer's owners reach a new contract once the operator has granted it to them
            # (their space's role names it) and the API server has seen the grant.
            self.wait(
                lambda name=name, s=consumer: self.owner(s).can(
                    "patch", f"datacontracts.tds.io/{name}", f"tds-{s}"
                ),
                f"{consumer}'s owners to reach {name}",
            )
            self.owner(consumer).kubectl(
                "patch", "datacontract", name, "--type=merge", "-p", CONSENT
            )
            self.wait(
                lambda name=name: (
                    ((get("datacontract", name) or {}).get("status") or {}).get("phase") == "Active"
                ),
                f"DataContract {name} Active",
            )

    def consumer_trains_jointly(self) -> None:
        """cmcc's owner creates the joint job: it runs in a room of its own to its end, and its
        output is inventoried there (the manifest step ended as the kubelet on the local hub)."""
        self.owner(self.name("cmcc")).kubectl("create", "-f", "-", stdin=json.dumps(self.joint_job))
        try:
            self.wait(
                lambda: (
                    (self.joint_status().get("output") or {}).get("state")
                    in {"Inventorying", "Quarantined"}
                ),
                f"the joint job {self.job_name} to end",
            )
        except AssertionError as error:
            raise AssertionError(f"{error}; its status: {self.joint_status()}") from None
        status = self.joint_status()
        assert status.get("phase") == "Succeeded", status
        room = str(status.get("cleanRoom"))
        assert room.startswith("tds-jr-"), status
        assert status.get("gpuSeconds", 0) > 0, status
        if os.environ.get("TDS_E2E_OPERATOR", "local") == "local":
            self.end_joint_manifest_step(room)
        self.wait(
            lambda: (self.joint_status().get("output") or {}).get("state") == "Quarantined",
            "the joint job's output Quarantined",
        )

    def end_joint_manifest_step(self, room: str) -> None:
        """As `Story.end_manifest_step_as_the_kubelet`, in the joint job's room."""
        pod = f"{self.job_name}-manifest"
        self.wait(
            lambda: ((get("pod", pod, room) or {}).get("status") or {}).get("phase") == "Running",
            f"the manifest step {pod} running",
        )
        with tempfile.TemporaryDirectory() as directory:
            (Path(directory) / "model.bin").write_bytes(b"weights")
            message = termination_message(manifest_entries(Path(directory)))
        status = json.dumps(manifest_step_ended(message))
        PLATFORM_TEAM.kubectl(
            "patch", "pod", pod, "-n", room, "--subresource=status", "--type=merge", "-p", status
        )

    def release_body(self) -> Manifest:
        name = self.joint_release["metadata"]["name"]
        return get("modelrelease", name, self.where) or {}

    def every_contract_releases_the_model(self) -> None:
        """sgcc's clause says review, cma's allowed: the release waits for sgcc's owner alone,
        then the very volume the job wrote is bound in cmcc's namespace."""
        name = self.joint_release["metadata"]["name"]
        self.owner(self.name("cmcc")).kubectl(
            "create", "-f", "-", stdin=json.dumps(self.joint_release)
        )
        sgcc, cma = (self.by_provider(s)["metadata"]["name"] for s in ("sgcc", "cma"))

        def outcomes() -> dict[str, str]:
            found = (self.release_body().get("status") or {}).get("contracts") or []
            return {c["contract"]: c["outcome"] for c in found}

        self.wait(lambda: outcomes() == {sgcc: "AwaitingReview", cma: "Allowed"}, "each decision")
        assert (self.release_body().get("status") or {}).get("phase") == "AwaitingReview"
        review = {"contract": sgcc, "decision": "Approved"}
        self.owner(self.name("sgcc")).kubectl(
            "patch", "modelrelease", name, "-n", self.where, "--type=json",
            "-p", json.dumps([{"op": "add", "path": "/spec/reviews/-", "value": review}]),
        )  # fmt: skip
        self.wait(
            lambda: (self.release_body().get("status") or {}).get("phase") == "Released",
            f"ModelRelease {name} Released",
        )
        body = self.release_body()
        assert outcomes() == {sgcc: "Approved", cma: "Allowed"}, body["status"]
        claim = get("pvc", name, self.where) or {}
        assert claim.get("spec", {}).get("volumeName") == body["status"]["volume"], claim

    def both_contracts_show_the_job(self) -> None:
        """Each contract is charged the job's full GPU-seconds, and `kubectl tds status` as
        cmcc's owner lists the job on each as joint, naming both contracts."""
        used = self.joint_status()["gpuSeconds"]
        names = self.joint_job["spec"]["contracts"]

        def charged(name: str) -> bool:
            usage = ((get("datacontract", name) or {}).get("status") or {}).get("usage") or {}
            return abs(float(usage.get("gpuHours", 0)) * 3600 - used) < 1

        for name in names:
            self.wait(lambda name=name: charged(name), f"{used} GPU-seconds on {name}'s usage")
            report = self.tds_status(name)
            line = f"{self.where}/{self.job_name}: Succeeded, 8 GPUs, {used} GPU-seconds"
            assert f"{line}, joint: {', '.join(names)}" in report, report

    def tds_status(self, contract: str) -> str:
        """`kubectl tds status CONTRACT` as an owner of cmcc."""
        owner = self.owner(self.name("cmcc"))
        flags = [f"--as={owner.user}", *(f"--as-group={g}" for g in owner.groups)]
        done = subprocess.run(
            [sys.executable, "-m", "kubectl_tds", "status", contract, *flags],
            env={**os.environ, "KUBECONFIG": kubeconfig(), "KUBECTL": kubectl_binary()},
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def remove_joint(self) -> None:
        """Whatever the walk made, as the platform team, ledgers included (its names are its
        own), then the spaces."""
        for kind, name, namespace in [
            ("modelrelease", self.joint_release["metadata"]["name"], self.where),
            ("trainingjob", self.job_name, self.where),
            *(("datacontract", c["metadata"]["name"], None) for c in self.contracts),
        ]:
            self.wait(lambda k=kind, n=name, ns=namespace: _force_delete(k, n, ns), f"{name} gone")
        for doc in self.contracts:
            selector = f"{LEDGER_LABEL}=true,tds.io/contract={doc['metadata']['name']}"
            kubectl("delete", "configmap", "-n", NAMESPACE, "-l", selector, check=False)
        self.force_cleanup(keep_ledger=False, wait=True)
