"""What an admitted TrainingJob runs as: an Indexed batch Job and a headless Service for
rendezvous, in the contract's clean room, on the GPU pool."""

from __future__ import annotations

import json

from tds_operator.api.datacontract import DataContract
from tds_operator.api.dataspace import DataSpace, space_namespace
from tds_operator.api.trainingjob import TrainingJob
from tds_operator.desired.cleanroom import clean_room_namespace
from tds_operator.desired.isolation import GPU_RESOURCE
from tds_operator.desired.labels import CONTRACT_LABEL, Manifest, managed_labels
from tds_operator.policy.rules import HubRules

JOB_NAMESPACE_LABEL = "tds.io/training-job-namespace"
JOB_NAME_LABEL = "tds.io/training-job"
RENDEZVOUS_PORT = 29500
# Annotations and labels under this prefix on a TrainingJob are passed to its workers' pods, so a
# hub that simulates pods (the local GPU hub's stages) can be steered per job.
SIMULATION_PREFIX = "hub.tds.io/"
COMPLETION_INDEX = "metadata.annotations['batch.kubernetes.io/job-completion-index']"


def training_labels(job: TrainingJob) -> dict[str, str]:
    """Labels tying clean-room objects to their TrainingJob and contract."""
    return managed_labels(
        **{
            JOB_NAMESPACE_LABEL: job.metadata.namespace or "",
            JOB_NAME_LABEL: job.metadata.name or "",
            CONTRACT_LABEL: job.spec.contract,
        }
    )


def dataset_endpoints(job: TrainingJob, contract: DataContract, provider: DataSpace | None) -> str:
    """JSON map of each dataset the job reads to where the clean room reaches it."""
    names = job.spec.datasets or contract.spec.provider.datasets
    namespace = space_namespace(contract.spec.provider.space)
    endpoints: dict[str, str] = {}
    for name in names:
        dataset = provider.spec.dataset(name) if provider else None
        if dataset is not None and dataset.source.service is not None:
            service = dataset.source.service
            endpoints[name] = f"{service.name}.{namespace}.svc:{service.port}"
    return json.dumps(endpoints, sort_keys=True, separators=(",", ":"))


def headless_service(job: TrainingJob) -> Manifest:
    """The Service that gives worker i the stable name <job>-<i>.<job> for rendezvous."""
    name = job.metadata.name or ""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": clean_room_namespace(job.spec.contract),
            "labels": training_labels(job),
        },
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": {JOB_NAMESPACE_LABEL: job.metadata.namespace or "", JOB_NAME_LABEL: name},
            "ports": [{"name": "rendezvous", "port": RENDEZVOUS_PORT, "protocol": "TCP"}],
        },
    }


def batch_job(
    job: TrainingJob,
    contract: DataContract,
    provider: DataSpace | None,
    rules: HubRules,
    active_deadline_seconds: int,
) -> Manifest:
    """The Indexed Job: one pod per worker, torchrun-style environment, restricted, on GPUs."""
    name = job.metadata.name or ""
    namespace = clean_room_namespace(job.spec.contract)
    spec = job.spec
    labels = training_labels(job)
    pod_labels = {**labels}
    pod_labels.update(
        {k: v for k, v in job.metadata.labels.items() if k.startswith(SIMULATION_PREFIX)}
    )
    pod_annotations = {
        k: v for k, v in job.metadata.annotations.items() if k.startswith(SIMULATION_PREFIX)
    }
    environment = [
        {"name": "MASTER_ADDR", "value": f"{name}-0.{name}.{namespace}.svc"},
        {"name": "MASTER_PORT", "value": str(RENDEZVOUS_PORT)},
        {"name": "WORLD_SIZE", "value": str(spec.workers)},
        {"name": "NNODES", "value": str(spec.workers)},
        {"name": "NPROC_PER_NODE", "value": str(spec.gpus_per_worker)},
        {"name": "NODE_RANK", "valueFrom": {"fieldRef": {"fieldPath": COMPLETION_INDEX}}},
        {"name": "RANK", "valueFrom": {"fieldRef": {"fieldPath": COMPLETION_INDEX}}},
        {"name": "TDS_CONTRACT", "value": spec.contract},
        {"name": "TDS_DATASET_ENDPOINTS", "value": dataset_endpoints(job, contract, provider)},
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
        "volumeMounts": [{"name": "scratch", "mountPath": "/tmp"}],
    }
    if spec.command:
        container["command"] = list(spec.command)
    if spec.args:
        container["args"] = list(spec.args)
    template_metadata: Manifest = {"labels": pod_labels}
    if pod_annotations:
        template_metadata["annotations"] = pod_annotations
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "completionMode": "Indexed",
            "completions": spec.workers,
            "parallelism": spec.workers,
            # One failed worker fails the distributed run; the TrainingJob reports why.
            "backoffLimit": 0,
            "activeDeadlineSeconds": active_deadline_seconds,
            "template": {
                "metadata": template_metadata,
                "spec": {
                    "restartPolicy": "Never",
                    "subdomain": name,
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
                        {
                            "key": rules.gpu_toleration_key,
                            "operator": "Exists",
                            "effect": "NoSchedule",
                        }
                    ],
                    "containers": [container],
                    "volumes": [{"name": "scratch", "emptyDir": {}}],
                },
            },
        },
    }
