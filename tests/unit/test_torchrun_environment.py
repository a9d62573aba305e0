"""Each worker's environment, read the way torchrun reads it.

torch is too heavy to install for tests, so this reads the pod's environment with torchrun's
documented rule instead (torch.distributed.run): every option `--some-option` whose value is not on
the command line defaults to the environment variable `PET_SOME_OPTION`. A worker started as
`torchrun train.py` must then find the run's static rendezvous there: the number of workers, its
own rank among them, its GPUs, and the master's address and port."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

import pytest

from bench.hubkit.manifests import training_job_body
from tds_operator.api.trainingjob import RESERVED_ENV_NAMES, TrainingJob
from tds_operator.desired.trainingjob import batch_job
from tds_operator.policy.rules import HubRules

pytestmark = pytest.mark.unit

MASTER_IP = "10.96.0.17"
# torchrun's options that a multi-node static rendezvous needs, as documented for torchrun.
TORCHRUN_OPTIONS = ("--nnodes", "--node-rank", "--nproc-per-node", "--master-addr", "--master-port")
COMPLETION_INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"


def pod_environment(workers: int, index: int) -> dict[str, str]:
    """The environment of worker `index`'s container, with its field references resolved the way
    the kubelet resolves them for the pod the Job controller makes for that completion index."""
    body = training_job_body("forecast", "tds-cmcc", "sgcc-to-cmcc", workers=workers)
    job = TrainingJob.model_validate(body)
    manifest = batch_job(job, HubRules(), 3600, MASTER_IP, {})
    pod_annotations = {COMPLETION_INDEX_ANNOTATION: str(index)}
    environment: dict[str, str] = {}
    for variable in manifest["spec"]["template"]["spec"]["containers"][0]["env"]:
        environment[variable["name"]] = resolved(variable, pod_annotations)
    return environment


def resolved(variable: Mapping[str, Any], annotations: Mapping[str, str]) -> str:
    if "value" in variable:
        return str(variable["value"])
    path = variable["valueFrom"]["fieldRef"]["fieldPath"]
    prefix, key = "metadata.annotations['", path.removeprefix("metadata.annotations['")[:-2]
    assert path == f"{prefix}{key}']", f"{variable['name']} reads {path}, not an annotation"
    return annotations[key]


def torchrun_settings(environment: Mapping[str, str]) -> argparse.Namespace:
    """torchrun's options as it parses `torchrun train.py` in this environment: each option's
    default is `PET_` + its name upper-cased with dashes as underscores."""
    parser = argparse.ArgumentParser()
    for option in TORCHRUN_OPTIONS:
        destination = option.removeprefix("--").replace("-", "_")
        parser.add_argument(option, default=environment.get(f"PET_{destination.upper()}"))
    return parser.parse_args([])


@pytest.mark.parametrize("workers", [1, 4])
def test_torchrun_finds_the_static_rendezvous_of_every_worker(workers: int) -> None:
    for index in range(workers):
        settings = torchrun_settings(pod_environment(workers, index))
        assert vars(settings) == {
            "nnodes": str(workers),
            "node_rank": str(index),
            "nproc_per_node": "8",
            "master_addr": MASTER_IP,
            "master_port": "29500",
        }


@pytest.mark.parametrize("workers", [1, 4])
def test_plain_rendezvous_names_stay_for_code_that_reads_them(workers: int) -> None:
    for index in range(workers):
        environment = pod_environment(workers, index)
        assert environment["MASTER_ADDR"] == MASTER_IP
        assert environment["MASTER_PORT"] == "29500"
        assert environment["WORLD_SIZE"] == str(workers)
        assert environment["RANK"] == str(index)
        assert environment["NODE_RANK"] == str(index)
        assert environment["NNODES"] == str(workers)
        assert environment["NPROC_PER_NODE"] == "8"


def test_the_only_torchrun_settings_are_the_rendezvous() -> None:
    torchrun_names = {name for name in pod_environment(2, 1) if name.startswith("PET_")}
    assert torchrun_names == {
        "PET_NNODES",
        "PET_NODE_RANK",
        "PET_NPROC_PER_NODE",
        "PET_MASTER_ADDR",
        "PET_MASTER_PORT",
    }
    assert torchrun_names <= set(RESERVED_ENV_NAMES), "a consumer's env could override them"
