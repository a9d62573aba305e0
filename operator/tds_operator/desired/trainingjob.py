"""What an admitted TrainingJob runs as: an Indexed batch Job and a Service for rendezvous, in
the contract's clean room, on the GPU pool.

Clean-room pods have no resolver (a resolver that forwards external names carries data out in
the names it is asked for): every address they need is handed to them as an IP, the rendezvous
master as its Service's cluster IP, each dataset as its Service's cluster IP and port."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Final

from tds_operator.api.datacontract import DataContract
from tds_operator.api.resources import Manifest
from tds_operator.api.trainingjob import TrainingJob
from tds_operator.desired.cleanroom import (
    WORKER_SERVICE_ACCOUNT,
    DatasetEndpoint,
    job_room,
)
from tds_operator.desired.grants import (
    dataset_token_mount,
    dataset_token_volume,
    token_presentation,
)
from tds_operator.desired.isolation import GPU_RESOURCE
from tds_operator.desired.labels import CONTRACT_LABEL, managed_labels
from tds_operator.policy.rules import HubRules

# Seconds a stopped worker's process has between SIGTERM and SIGKILL.
WORKER_GRACE_SECONDS: Final = 1
JOB_NAMESPACE_LABEL = "tds.io/training-job-namespace"
JOB_NAME_LABEL = "tds.io/training-job"
JOB_UID_LABEL = "tds.io/training-job-uid"
"""The uid of the TrainingJob a clean-room object was made for: what ties it to that very job
(a later TrainingJob of the same name is another job, and adopts none of it)."""
RENDEZVOUS_PORT = 29500
# torchrun reads each option not on its command line from the environment, as PET_<OPTION>.
TORCHRUN_PREFIX = "PET_"
# Annotations and labels under this prefix on a TrainingJob are passed to its workers' pods on a
# simulation hub only (HubRules.simulation_hub), so that its simulated pods (the local GPU hub's
# stages) can be steered per job. Anywhere else they are the consumer's and stay on the TrainingJob.
SIMULATION_PREFIX = "hub.tds.io/"
COMPLETION_INDEX = "metadata.annotations['batch.kubernetes.io/job-completion-index']"
# The Job controller labels each pod of an Indexed Job with its index.
COMPLETION_INDEX_LABEL = "batch.kubernetes.io/job-completion-index"
# The only nameserver clean-room pods are given: their own loopback, where nothing answers unless
# the job's own code does, so a name lookup fails at once and never leaves the pod.
NO_RESOLVER = "127.0.0.1"
SCRATCH_MOUNT = "/tmp"
TERMINATION_LOG = "/dev/termination-log"
METERING_FINALIZER = "tds.io/metering"
"""On every worker pod (through the batch Job's pod template): a pod taken away behind the
operator's back (the Job controller at the deadline, the garbage collector, a person) stays,
terminated with its finish time, until the operator has metered it and removes the finalizer."""


def room_of(job: TrainingJob) -> str:
    """The namespace the job runs in: its contract's clean room, or a joint job's own room."""
    return job_room(job.spec.contract_names, job.metadata.uid or "")


CONTRACTS_ANNOTATION = "tds.io/contracts"
"""On what a joint job's room holds for it: its contracts, comma-separated (a label holds one)."""


def joint_annotations(job: TrainingJob) -> dict[str, dict[str, str]]:
    """`{"annotations": {tds.io/contracts: ...}}` for a joint job's objects; empty otherwise."""
    if not job.spec.joint:
        return {}
    return {"annotations": {CONTRACTS_ANNOTATION: ",".join(job.spec.contract_names)}}


def training_labels(job: TrainingJob) -> dict[str, str]:
    """Labels tying clean-room objects to their TrainingJob and contract."""
    return managed_labels(
        **{
            JOB_NAMESPACE_LABEL: job.metadata.namespace or "",
            JOB_NAME_LABEL: job.metadata.name or "",
            JOB_UID_LABEL: job.metadata.uid or "",
            CONTRACT_LABEL: job.spec.contract,
        }
    )


def dataset_addresses(
    job: TrainingJob, contract: DataContract, endpoints: Mapping[str, DatasetEndpoint]
) -> dict[str, str | None]:
    """Each dataset the job reads over the network, by the IP and port it is reached at (None if
    its Service has no cluster IP)."""
    names = job.spec.datasets or contract.spec.provider.datasets
    return {name: endpoints[name].address for name in names if name in endpoints}


def rendezvous_service(job: TrainingJob) -> Manifest:
    """The Service in front of worker 0, whose cluster IP the workers rendezvous at."""
    name = job.metadata.name or ""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": room_of(job),
            "labels": training_labels(job),
            **joint_annotations(job),
        },
        "spec": {
            "type": "ClusterIP",
            "publishNotReadyAddresses": True,
            "selector": {
                JOB_NAMESPACE_LABEL: job.metadata.namespace or "",
                JOB_NAME_LABEL: name,
                JOB_UID_LABEL: job.metadata.uid or "",
                COMPLETION_INDEX_LABEL: "0",
            },
            "ports": [{"name": "rendezvous", "port": RENDEZVOUS_PORT, "protocol": "TCP"}],
        },
    }


def _simulation_metadata(job: TrainingJob, rules: HubRules) -> tuple[Manifest, Manifest]:
    """The job's `hub.tds.io/*` labels and annotations, on a simulation hub; else none."""
    if not rules.simulation_hub:
        return {}, {}
    metadata = job.metadata
    return (
        {k: v for k, v in metadata.labels.items() if k.startswith(SIMULATION_PREFIX)},
        {k: v for k, v in metadata.annotations.items() if k.startswith(SIMULATION_PREFIX)},
    )


def batch_job(
    job: TrainingJob,
    rules: HubRules,
    active_deadline_seconds: int,
    master_ip: str,
    datasets: Mapping[str, str],
) -> Manifest:
    """The Indexed Job: one pod per worker, torchrun-style environment, restricted, on GPUs,
    without a resolver. `master_ip` is the rendezvous Service's cluster IP, `datasets` maps each
    dataset the job reads to its IP and port."""
    name = job.metadata.name or ""
    namespace = room_of(job)
    spec = job.spec
    labels = training_labels(job)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            **joint_annotations(job),
        },
        "spec": {
            "completionMode": "Indexed",
            "completions": spec.workers,
            "parallelism": spec.workers,
            # One failed worker fails the distributed run; the TrainingJob reports why.
            "backoffLimit": 0,
            "activeDeadlineSeconds": active_deadline_seconds,
            "template": _pod_template(job, rules, _worker_container(job, master_ip, datasets)),
        },
    }


def _worker_container(job: TrainingJob, master_ip: str, datasets: Mapping[str, str]) -> Manifest:
    """A worker's one container: the job's image and command, its GPUs, restricted."""
    spec = job.spec
    environment = [
        *rendezvous_environment(job, master_ip),
        # A joint job's contracts, comma-separated, in the order it names them.
        {"name": "TDS_CONTRACT", "value": ",".join(spec.contract_names)},
        {"name": "TDS_DATASET_ENDPOINTS", "value": dataset_endpoints_value(datasets)},
        *({"name": e.name, "value": e.value} for e in spec.env),
    ]
    container: Manifest = {
        "name": "worker",
        "image": spec.image,
        "env": environment,
        "resources": {
            "requests": {GPU_RESOURCE: str(spec.gpus_per_worker)},
            "limits": {GPU_RESOURCE: str(spec.gpus_per_worker)},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "scratch", "mountPath": SCRATCH_MOUNT}],
        # The kubelet's file, never the logs; the operator reads nothing of it either way.
        "terminationMessagePath": TERMINATION_LOG,
        "terminationMessagePolicy": "File",
    }
    if spec.command:
        container["command"] = list(spec.command)
    if spec.args:
        container["args"] = list(spec.args)
    return container


def _pod_template(job: TrainingJob, rules: HubRules, container: Manifest) -> Manifest:
    """The workers' pod template: metered, on the GPU nodes, no token, no resolver, no
    privilege, scratch space bounded, and the dataset identity mounted."""
    simulation_labels, pod_annotations = _simulation_metadata(job, rules)
    metadata: Manifest = {
        "labels": {**simulation_labels, **training_labels(job)},
        "finalizers": [METERING_FINALIZER],
    }
    pod_annotations = {**pod_annotations, **joint_annotations(job).get("annotations", {})}
    if pod_annotations:
        metadata["annotations"] = pod_annotations
    spec = {
        "restartPolicy": "Never",
        # A stopped job stops within a second: a worker's process gets this long after SIGTERM
        # before SIGKILL (the default 30 s let a worker that ignores SIGTERM run on for half a
        # minute after a revocation).
        "terminationGracePeriodSeconds": WORKER_GRACE_SECONDS,
        "dnsPolicy": "None",
        "dnsConfig": {"nameservers": [NO_RESOLVER]},
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "runAsGroup": 1000,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "nodeSelector": dict(rules.gpu_node_selector),
        "tolerations": [
            {"key": rules.gpu_toleration_key, "operator": "Exists", "effect": "NoSchedule"}
        ],
        "containers": [container],
        "volumes": [{"name": "scratch", "emptyDir": {"sizeLimit": rules.scratch_size_limit}}],
    }
    return {"metadata": metadata, "spec": with_dataset_identity(spec)}


def rendezvous_environment(job: TrainingJob, master_ip: str) -> list[Manifest]:
    """Where and as whom each worker joins the run: torchrun's own settings (`PET_<FLAG>`, which
    its `--nnodes`, `--node-rank`, `--nproc-per-node`, `--master-addr` and `--master-port` default
    to), and the plain names for code that reads those (one process per worker: `WORLD_SIZE` counts
    workers, `RANK` is the worker's index). A worker's rank is its pod's completion index."""
    workers, gpus = str(job.spec.workers), str(job.spec.gpus_per_worker)
    rank = {"fieldRef": {"fieldPath": COMPLETION_INDEX}}
    settings: list[tuple[str, str | Manifest]] = [
        ("MASTER_ADDR", master_ip),
        ("MASTER_PORT", str(RENDEZVOUS_PORT)),
        ("NNODES", workers),
        ("NODE_RANK", rank),
        ("NPROC_PER_NODE", gpus),
    ]
    environment = [_variable(name, value) for name, value in settings]
    environment += [_variable(TORCHRUN_PREFIX + name, value) for name, value in settings]
    environment += [_variable("WORLD_SIZE", workers), _variable("RANK", rank)]
    return environment


def _variable(name: str, value: str | Manifest) -> Manifest:
    if isinstance(value, str):
        return {"name": name, "value": value}
    return {"name": name, "valueFrom": value}


def dataset_endpoints_value(datasets: Mapping[str, str]) -> str:
    """TDS_DATASET_ENDPOINTS: each dataset's IP and port, and how to present the token there."""
    endpoints = {
        name: {"address": address, **token_presentation()} for name, address in datasets.items()
    }
    return json.dumps(endpoints, sort_keys=True, separators=(",", ":"))


def with_dataset_identity(pod_spec: Manifest) -> Manifest:
    """The pod spec with the clean room's identity: its ServiceAccount (still no API token) and
    the projected dataset token, mounted read-only in every container."""
    containers = [
        {**container, "volumeMounts": [*container.get("volumeMounts", []), dataset_token_mount()]}
        for container in pod_spec["containers"]
    ]
    return {
        **pod_spec,
        "serviceAccountName": WORKER_SERVICE_ACCOUNT,
        "containers": containers,
        "volumes": [*pod_spec.get("volumes", []), dataset_token_volume()],
    }
