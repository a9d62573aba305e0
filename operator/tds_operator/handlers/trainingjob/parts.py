"""What every lifecycle of a TrainingJob's reconcile acts through."""

from __future__ import annotations

from tds_operator.api.resources import Manifest
from tds_operator.handlers.backstops import Backstops
from tds_operator.handlers.batch_run import BatchRun
from tds_operator.handlers.context import Operator
from tds_operator.handlers.outputs import OutputVolume
from tds_operator.handlers.queue import queue_key


class JobParts:
    """The operator and the actuators of TrainingJobs: the batch Job and its pods (`workload`,
    created suspended on the Kueue LocalQueue `queue` if one is given), the shared backstops and
    the output volume."""

    def __init__(self, op: Operator, queue: str | None = None) -> None:
        self.op = op
        self.kube = op.kube
        self.batch_run = BatchRun(op.kube, queue=queue)
        self.backstops = Backstops(self.batch_run)
        self.outputs = OutputVolume(op.kube, op.rules)


def key_of(body: Manifest) -> str:
    """The queue key of a TrainingJob."""
    metadata = body["metadata"]
    return queue_key(metadata["namespace"], metadata["name"])
