"""TrainingJob admission: a job its contract does not allow is refused at once, naming the term."""

from __future__ import annotations

from typing import Any

import kopf
from pydantic import ValidationError

from tds_operator.api.common import INVALID_SPEC
from tds_operator.api.trainingjob import TrainingJob
from tds_operator.handlers.context import Operator
from tds_operator.handlers.objects import validation_message
from tds_operator.handlers.trainingjob import admission
from tds_operator.policy.training import must_wait
from tds_operator.webhooks.common import deny


async def admit_training(body: kopf.Body, memo: Operator, **_: Any) -> None:
    """A TrainingJob that its contract does not allow is refused at once, naming the term."""
    try:
        job = TrainingJob.model_validate(dict(body))
    except ValidationError as error:
        raise deny(INVALID_SPEC, validation_message(error)) from None
    if not job.metadata.namespace:
        namespace = body.get("metadata", {}).get("namespace")
        job = job.model_copy(
            update={"metadata": job.metadata.model_copy(update={"namespace": namespace})}
        )
    contracts = await admission.contracts_of_job(memo, job)
    decision = (await admission.decide(memo, job, contracts, waiting=False))[0]
    if not decision.allowed and not must_wait(decision):
        # An allowed job is counted once, when the operator records its admission; a job that
        # does not fit yet is let in to wait in its contract's queue.
        admission.count(job, contracts, decision)
        raise deny(decision.reason, decision.message)
