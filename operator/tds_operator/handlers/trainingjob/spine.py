"""TrainingJob reconciler: admit against the contract, run in the clean room, meter, stop.

Each reconcile reads as gather (the job and its contract, once: `JobInputs`) → decide (the step,
pure: policy/job_run.py `decide_run`) → act (one lifecycle: admission through the injected
strategy, running, ending, the output) → record (the ledger, in each lifecycle) → report (one
status write, one Event per condition that changed: report.py).

Enforcement happens on every reconcile: the moment the contract is not Active (or its notAfter
has passed, or its jobs have used its budget up), the batch Job is deleted and the TrainingJob
ends as Stopped with the contract's reason. A job just admitted is reconciled again at once,
to start.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import ValidationError

from tds_operator import API_VERSION
from tds_operator.api.resources import DATA_CONTRACT, TRAINING_JOB, Manifest
from tds_operator.api.trainingjob import TrainingJob
from tds_operator.handlers.context import Operator, utcnow
from tds_operator.handlers.objects import ensure_finalizer, validation_message
from tds_operator.handlers.trainingjob.end import delete, deny, stop_unless_done
from tds_operator.handlers.trainingjob.joint_run import run_joint
from tds_operator.handlers.trainingjob.orphans import of_name, sweep
from tds_operator.handlers.trainingjob.output import keep_output
from tds_operator.handlers.trainingjob.parts import JobParts
from tds_operator.handlers.trainingjob.report import JobReport
from tds_operator.handlers.trainingjob.run import run
from tds_operator.policy.job_run import JobInputs, RunStep, contract_states, decide_run


class Admission(Protocol):
    """How a job not admitted yet is admitted: in the operator's own queue, or in Kueue."""

    queue: str | None
    """The Kueue LocalQueue the batch Jobs wait in (created suspended), or None."""

    async def admit(
        self, parts: JobParts, report: JobReport, job: TrainingJob, contract: Manifest | None
    ) -> bool | float | None:
        """True once admitted; else the seconds until a waiting job looks again (None: it was
        denied, or waits to be woken)."""
        ...


class TrainingJobReconciler:
    """Makes the world match one TrainingJob."""

    def __init__(self, op: Operator, admission: Admission) -> None:
        self.parts = JobParts(op, queue=admission.queue)
        self.admission = admission

    async def __call__(self, key: str) -> float | None:
        namespace, name = key.split("/", 1)
        inputs = await self.gather(namespace, name)
        step = decide_run(inputs, utcnow())
        if inputs.body is None:
            # Gone: if its finalizer was removed by hand, its workers may still run or be held,
            # its output still be in the clean room: stopped, metered, discarded, on the record.
            await sweep(self.parts, of_name(namespace, name))
            return None
        report = JobReport(self.parts, inputs.body)
        report.contracts(contract_states(inputs, step))
        wake = await self.act(step, inputs, report)
        await report.flush()
        return wake

    async def gather(self, namespace: str, name: str) -> JobInputs:
        """The job, parsed, and (if its step depends on it) its contract, read once each."""
        kube = self.parts.kube
        body = await kube.get(API_VERSION, TRAINING_JOB, name, namespace)
        job, invalid = None, None
        if body is not None:
            try:
                job = TrainingJob.model_validate(body)
            except ValidationError as error:
                invalid = validation_message(error)
        inputs = JobInputs(body=body, job=job, invalid=invalid, contract=None)
        if not inputs.needs_contract or job is None:
            return inputs
        # One read each: a joint job stops the moment any of its contracts stops it.
        contracts = [
            (name, await kube.get(API_VERSION, DATA_CONTRACT, name))
            for name in job.spec.contract_names
        ]
        every = tuple(contracts) if job.spec.joint else ()
        return JobInputs(
            body=body, job=job, invalid=None, contract=contracts[0][1], contracts=every
        )

    async def act(self, step: RunStep, inputs: JobInputs, report: JobReport) -> float | None:
        """Carry the step out; the seconds until the job wants to be looked at again."""
        parts, job = self.parts, inputs.job
        if step.kind == "delete":
            return await delete(parts, report)
        await ensure_finalizer(parts.kube, report.body)
        if step.kind == "invalid":
            assert step.decision is not None
            deny(report, step.decision)
            return None
        assert job is not None
        if step.kind == "finished":
            # Its final figure is recorded: pods still held for metering may go.
            await parts.batch_run.release_pods(report.body)
            return await keep_output(parts, report, job)
        if step.kind == "admit":
            admitted = await self.admission.admit(parts, report, job, inputs.contract)
            if admitted is not True:
                return admitted
            report.wake_self()
            return None
        if step.kind == "stop":
            assert step.decision is not None
            stopping = dict(inputs.contracts).get(step.stopped_by or "", inputs.contract)
            await stop_unless_done(parts, report, stopping, step.decision)
            return None
        assert inputs.contract is not None
        if inputs.contracts:
            return await run_joint(parts, report, job, inputs.contracts)
        return await run(parts, report, job, inputs.contract)
