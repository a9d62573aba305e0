"""Process entry point: kopf settings, the reconcilers' context, webhooks, probes and metrics.

`python -m tds_operator` runs the operator; `python -m tds_operator audit verify CONTRACT`
recomputes a contract's audit chain and reports the first entry that cannot be trusted.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Any

import kopf

from tds_operator import FIELD_MANAGER, metrics, webhooks
from tds_operator.api.resources import (
    CONTRACT_PROPOSAL,
    DATA_CONTRACT,
    DATA_SPACE,
    MODEL_RELEASE,
    TRAINING_JOB,
)
from tds_operator.config import (
    KueueMode,
    OperatorConfig,
    Role,
    role_reconciles,
    role_serves_webhooks,
)
from tds_operator.connection import EXIT_CODES_HELP, Caller
from tds_operator.desired.admission import space_admission_policies
from tds_operator.desired.rbac import space_roles
from tds_operator.desired.webhook_client import WEBHOOK_CONFIGURATION
from tds_operator.handlers import watches
from tds_operator.handlers.child_watches import ChildWatches
from tds_operator.handlers.context import Operator
from tds_operator.handlers.contracts import ContractReconciler
from tds_operator.handlers.kueue import WORKLOAD, uses_kueue
from tds_operator.handlers.proposals import ProposalReconciler
from tds_operator.handlers.queue import ReconcileQueue
from tds_operator.handlers.releases import ReleaseReconciler
from tds_operator.handlers.spaces import SpaceReconciler
from tds_operator.handlers.trainingjob.kueue_check import ContractCheck
from tds_operator.handlers.trainingjob.kueue_queue import KueueQueue
from tds_operator.handlers.trainingjob.own_queue import OwnQueue
from tds_operator.handlers.trainingjob.spine import TrainingJobReconciler
from tds_operator.kube import Kube
from tds_operator.process.election import LeaderElector
from tds_operator.process.install import ensure_installed, ensure_namespace
from tds_operator.process.local_webhooks import LocalWebhooks
from tds_operator.process.signing_key import (
    SigningKeyUnusable,
    ensure_checkpoint_key,
    ensure_signing_key,
)
from tds_operator.process.takeover import (
    keep_indexes_warm,
    stand_by,
    stop_sweeping,
    take_the_lead,
)
from tds_operator.process.webhook_server import webhook_server
from tds_operator.settings import settings_help

logger = logging.getLogger(__name__)


class NoDiffBase(kopf.DiffBaseStorage):
    """kopf keeps, for change handlers, an essence of each object: a deep copy built on every
    watch event. The operator has only event handlers, so it keeps none."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


async def _start_queues(memo: Operator, kube: Kube) -> None:
    """A reconcile queue per kind (and for Kueue's Workloads when TrainingJobs queue in Kueue)."""
    config = memo.config
    memo.queues[DATA_SPACE] = ReconcileQueue(
        DATA_SPACE, SpaceReconciler(memo), workers=config.space_workers
    )
    memo.queues[DATA_CONTRACT] = ReconcileQueue(
        DATA_CONTRACT, ContractReconciler(memo), urgent=memo.contract_ends_now
    )
    memo.kueue = await uses_kueue(kube, config.kueue)
    logger.info("TrainingJobs queue in %s", "Kueue" if memo.kueue else "the operator's own queue")
    jobs = TrainingJobReconciler(memo, KueueQueue() if memo.kueue else OwnQueue())
    memo.queues[TRAINING_JOB] = ReconcileQueue(TRAINING_JOB, jobs, workers=8, urgent=memo.job_due)
    if memo.kueue:
        memo.queues[WORKLOAD] = ReconcileQueue(WORKLOAD, ContractCheck(memo))
    memo.queues[MODEL_RELEASE] = ReconcileQueue(MODEL_RELEASE, ReleaseReconciler(memo))
    memo.queues[CONTRACT_PROPOSAL] = ReconcileQueue(CONTRACT_PROPOSAL, ProposalReconciler(memo))


async def start(settings: kopf.OperatorSettings, memo: Operator, **_: Any) -> None:
    """Configure kopf, connect, install the roles and policies of spaces, start the reconcilers."""
    # Handlers are level-based and keep no state in the objects: kopf only delivers events.
    settings.posting.enabled = False
    settings.persistence.diffbase_storage = NoDiffBase()
    settings.networking.error_backoffs = [1, 2, 5, 10]
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330

    config = memo.config
    local_address = None
    if config.serves_webhooks:
        settings.admission.server, local_address = webhook_server(config)
        if config.webhook_mode == "local":
            settings.admission.managed = WEBHOOK_CONFIGURATION

    kube = await Kube.connect_reconcilers(config.kubeconfig, config.requests_in_flight)
    # The webhook lets only the operator itself change a contract's reserved metadata.
    memo.identity = await kube.whoami()
    logger.info("%s runs as %s (role %s)", FIELD_MANAGER, memo.identity, config.role)
    if config.reconciles:
        await ensure_installed(kube, [*space_roles(), *space_admission_policies(config.hub_rules)])
    # Where the signing key is (a local run makes both; the chart made them in a cluster).
    await ensure_namespace(kube, config.namespace)
    try:
        signing_key = await ensure_signing_key(kube, config.namespace)
        checkpoint_key = await ensure_checkpoint_key(kube, config.namespace)
    except SigningKeyUnusable as error:
        raise kopf.PermanentError(str(error)) from None
    memo.connect(kube, signing_key, checkpoint_key)
    if config.reconciles:
        await _start_controller(memo, kube)
    if local_address is not None:
        keeper = LocalWebhooks(kube, local_address.base_url, local_address.ca_pem)
        _background.add(asyncio.create_task(keeper.run(), name="local-webhooks"))
    metrics.serve(config.metrics_port)
    logger.info(
        "%s started (%s); metrics on port %s",
        FIELD_MANAGER,
        ROLE_DOES[config.role],
        config.metrics_port,
    )


ROLE_DOES = {
    "all": "it serves the webhooks and reconciles while it leads",
    "controller": "it reconciles while it leads; another process serves the webhooks",
    "webhooks": "it serves the webhooks only",
}


async def _start_controller(memo: Operator, kube: Kube) -> None:
    """The reconcilers' queues, the leader election, the indexes and the child watches."""
    config = memo.config
    await memo.checkpoints.publish_key()
    await _start_queues(memo, kube)
    # The queues fill from the watches on every replica; only the leader's run them.
    memo.elector = LeaderElector(
        # Its own client: a renewal must not wait behind the reconciles' requests in flight.
        await Kube.connect_apart(config.kubeconfig),
        config.namespace,
        config.leader_lease,
        config.replica,
        lead=lambda: lead(memo),
        stand_by=lambda: stand_by(memo),
    )
    # Every replica keeps its indexes warm, so that a takeover need not list them again.
    _background.add(asyncio.create_task(keep_indexes_warm(memo), name="warm-indexes"))
    child_watches = ChildWatches(memo, await Kube.connect_apart(config.kubeconfig))
    _background.add(asyncio.create_task(child_watches.run(), name="child-watches"))
    _background.add(asyncio.create_task(memo.elector.run(), name="leader-election"))


_background: set[asyncio.Task[None]] = set()
"""Tasks the operator runs beside kopf's (the election), kept until cleanup cancels them."""


async def lead(memo: Operator) -> None:
    """This replica became the leader: fill the indexes, run the reconcilers and enqueue every
    object, all in the background (the election loop must go on renewing the Lease meanwhile)."""
    task = asyncio.create_task(take_the_lead(memo), name="leader-start")
    _background.add(task)
    task.add_done_callback(_background.discard)


async def stop(memo: Operator, **_: Any) -> None:
    """Stop the reconcilers; a local run also removes the webhook configuration it managed,
    so that the API stays writable after the operator is gone."""
    if not memo.connected:
        return
    stop_sweeping()
    for task in _background:
        task.cancel()
    await asyncio.gather(*_background, return_exceptions=True)
    if memo.elector is not None:
        await memo.elector.release()
    for queue in memo.queues.values():
        await queue.stop()
    if memo.config.webhook_mode == "local" and memo.config.serves_webhooks:
        for kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
            await memo.kube.delete("admissionregistration.k8s.io/v1", kind, WEBHOOK_CONFIGURATION)
    await memo.kube.close()


def operator_registry(kueue: KueueMode = "auto", role: Role = "all") -> kopf.OperatorRegistry:
    """Every handler of the operator's `role`, registered explicitly: login, lifecycle, watches
    (Kueue's Workloads too unless `kueue` is off) unless it serves webhooks only, webhooks unless
    it is the controller only."""
    registry = kopf.OperatorRegistry()
    # The kubeconfig, or the pod's ServiceAccount in a cluster: what kopf's default registry does.
    kopf.on.login(registry=registry)(kopf.login_via_client)
    kopf.on.startup(registry=registry)(start)
    kopf.on.cleanup(registry=registry)(stop)
    if role_reconciles(role):
        watches.register(registry, kueue=kueue != "off")
    if role_serves_webhooks(role):
        webhooks.register(registry)
    return registry


def run(config: OperatorConfig) -> None:
    """Run the operator until interrupted."""
    asyncio.run(
        kopf.operator(
            registry=operator_registry(config.kueue, config.role),
            clusterwide=True,
            standalone=True,
            liveness_endpoint=config.liveness_endpoint,
            memo=Operator(config),
        )
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m tds_operator [audit verify CONTRACT]`."""
    parser = argparse.ArgumentParser(
        prog="python -m tds_operator",
        description=__doc__,
        epilog=f"{settings_help()}\n\n{EXIT_CODES_HELP}\n\n"
        "Parties and hub staff: see also `kubectl tds --help`.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command")
    audit = commands.add_parser("audit", help="work with the audit ledgers")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_commands.add_parser("verify", help="recompute a contract's audit chain")
    verify.add_argument("contract", help="name of the DataContract")
    verify.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG)")
    verify.add_argument("--context", help="kubeconfig context to use")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # One line per HTTP request drowns what the operator decides.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    if not args.verbose:
        # kopf logs each watch event's handler at INFO: a line per child event of every space.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
        # And the webhook server a line per admission request: one per DataSpace created.
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    config = OperatorConfig.from_environment()
    if args.command == "audit":
        from tds_operator.plugin.verify import verify_command

        caller = Caller(args.kubeconfig or config.kubeconfig, args.context)
        return asyncio.run(verify_command(caller, config.namespace, args.contract))
    run(config)
    return 0
