"""Process entry point: kopf settings, the reconcilers' context, probes and metrics."""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Any

import kopf

from tds_operator import FIELD_MANAGER, metrics
from tds_operator.api.resources import DATA_SPACE
from tds_operator.config import OperatorConfig
from tds_operator.desired.rbac import space_roles
from tds_operator.handlers import spaces
from tds_operator.handlers.common import OperatorContext
from tds_operator.handlers.queue import ReconcileQueue
from tds_operator.kube import Kube

logger = logging.getLogger(__name__)


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Configure kopf, connect, install the cluster roles spaces bind, start the reconcilers."""
    # Handlers are level-based and keep no progress in the objects: kopf only delivers events.
    settings.persistence.finalizer = "tds.io/kopf-finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="tds.io")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="tds.io", key="last-handled-configuration"
    )
    settings.posting.enabled = False
    settings.networking.error_backoffs = [1, 2, 5, 10]
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330

    config = OperatorConfig.from_environment()
    kube = await Kube.connect(config.kubeconfig)
    ctx = OperatorContext(kube=kube)
    for role in space_roles():
        await kube.ensure(role)
    ctx.queues[DATA_SPACE] = ReconcileQueue(DATA_SPACE, spaces.SpaceReconciler(ctx))
    for queue in ctx.queues.values():
        queue.start()
    memo.ctx = ctx
    metrics.serve(config.metrics_port)
    logger.info("%s started; metrics on port %s", FIELD_MANAGER, config.metrics_port)


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    """Stop the reconcilers."""
    ctx: OperatorContext | None = getattr(memo, "ctx", None)
    if ctx is not None:
        for queue in ctx.queues.values():
            await queue.stop()


def run(config: OperatorConfig) -> None:
    """Run the operator until interrupted."""
    asyncio.run(
        kopf.operator(
            clusterwide=True,
            standalone=True,
            liveness_endpoint=config.liveness_endpoint,
            memo=kopf.Memo(),
        )
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m tds_operator`: run the operator against the current kubeconfig."""
    parser = argparse.ArgumentParser(prog="python -m tds_operator", description=__doc__)
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # One line per HTTP request drowns what the operator decides.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    run(OperatorConfig.from_environment())
    return 0
