"""The running operator as every handler sees it: one typed memo, shared by all of kopf's copies."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from tds_operator.api.resources import RBAC
from tds_operator.audit.published import Checkpoints
from tds_operator.audit.store import AuditLedger
from tds_operator.config import OperatorConfig
from tds_operator.handlers.children import ChildIndex, OwnWrites
from tds_operator.handlers.contract_index import ContractIndex
from tds_operator.handlers.known_spaces import SpaceIndex
from tds_operator.handlers.queue import ReconcileQueue
from tds_operator.kube import Kube
from tds_operator.policy.contract import ends_now
from tds_operator.policy.rules import HubRules
from tds_operator.process.election import LeaderElector

SPACE_CHILD_KINDS = (
    ("v1", "Namespace"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("v1", "ResourceQuota"),
    ("v1", "LimitRange"),
    (RBAC, "Role"),
    (RBAC, "RoleBinding"),
    (RBAC, "ClusterRoleBinding"),
    (RBAC, "ClusterRole"),
)
"""The kinds of the children of spaces that the operator watches (and keeps in its index)."""


def utcnow() -> datetime:
    """The operator's clock; the pure core takes `now` as an argument instead."""
    return datetime.now(UTC)


class Operator:
    """Configuration, API connection, audit ledger and reconcile queues of one operator process.

    kopf hands each handler a shallow copy of the memo; copying returns the one instance, so
    what startup connects is what every handler uses.
    """

    def __init__(self, config: OperatorConfig) -> None:
        self.config = config
        self.queues: dict[str, ReconcileQueue] = {}
        self.children = ChildIndex(SPACE_CHILD_KINDS)
        """The children of spaces as the watches delivered them."""
        self.contracts = ContractIndex()
        """The DataContracts as the watch delivered them, by space."""
        self.spaces = SpaceIndex()
        """The DataSpaces as the watch delivered them, and the operator's own writes of them
        (finalizer, status), whose events are no news."""
        self.deadlines: dict[str, datetime] = {}
        """When each TrainingJob's batch Job's deadline ends it, as the watch last delivered it."""
        self.identity = ""
        """The user name the API server knows the operator by (set at startup)."""
        self.elector: LeaderElector | None = None
        """Whether this replica reconciles (set at startup)."""
        self.children_listed = asyncio.Event()
        """Set once the child watches have listed (or failed to list) every kind."""
        self.kueue = False
        """Whether TrainingJobs queue in Kueue (TDS_KUEUE, decided at startup)."""
        self.metering_writes = OwnWrites()
        """The operator's status writes of running TrainingJobs (each metering pass writes the
        GPU-seconds): their events are no news, the next pass comes on its own schedule."""
        self.contract_reports = OwnWrites()
        """The status writes of the DataContracts' own reconciles: their events are no news to
        the contract (its reconcile wrote what it had just decided)."""
        self.refused_proposals: dict[str, set[str]] = {}
        """Space -> the ContractProposals (namespace/name) refused by the DataContract's webhook
        while naming it: a change of that space tries them again."""
        self._kube: Kube | None = None
        self._ledger: AuditLedger | None = None
        self._signing_key: bytes | None = None
        self._checkpoints: Checkpoints | None = None

    def __copy__(self) -> Operator:
        return self

    def connect(self, kube: Kube, signing_key: bytes, checkpoint_key: bytes) -> None:
        """Use this API connection, the audit ledger in the operator's namespace, the key that
        seals stamps and entries and the seed of the key that signs ledger checkpoints."""
        self._kube = kube
        self._signing_key = signing_key
        self._ledger = AuditLedger(kube, self.config.namespace, signing_key)
        self._checkpoints = Checkpoints(kube, self.config.namespace, checkpoint_key)

    @property
    def connected(self) -> bool:
        """Whether startup has connected (a stop before that has nothing to stop)."""
        return self._kube is not None

    @property
    def kube(self) -> Kube:
        """The API connection; there is none before startup has connected."""
        if self._kube is None:
            raise RuntimeError("the operator is not connected to the API server yet")
        return self._kube

    @property
    def ledger(self) -> AuditLedger:
        """The audit ledgers of all contracts."""
        if self._ledger is None:
            raise RuntimeError("the operator is not connected to the API server yet")
        return self._ledger

    @property
    def checkpoints(self) -> Checkpoints:
        """The signed checkpoints of the ledgers, published to the parties."""
        if self._checkpoints is None:
            raise RuntimeError("the operator is not connected to the API server yet")
        return self._checkpoints

    @property
    def signing_key(self) -> bytes:
        """The key only the operator holds: it seals consent stamps and audit entries."""
        if self._signing_key is None:
            raise RuntimeError("the operator is not connected to the API server yet")
        return self._signing_key

    @property
    def rules(self) -> HubRules:
        """The hub rules this operator enforces."""
        return self.config.hub_rules

    def enqueue(
        self, kind: str, key: str, delay: float = 0.0, *, urgent: bool = False, new: bool = False
    ) -> None:
        """Ask for a reconcile of one object (`urgent`: it stops jobs, ahead of all other work;
        `new`: nothing was decided on it yet, ahead of routine work)."""
        self.queues[kind].enqueue(key, delay, urgent=urgent, new=new)

    def stop_waiting(self, kind: str, key: str) -> bool:
        """Whether work that stops jobs came for an object while its reconcile runs: a routine
        pass may give way to it (the reconcile runs again at once, in the urgent lane)."""
        return self.queues[kind].urgent_waiting(key)

    def note_deadline(self, job: str, deadline: datetime | None) -> None:
        """Note when a TrainingJob's batch Job's deadline ends it (None: it has none now)."""
        if deadline is None:
            self.deadlines.pop(job, None)
        else:
            self.deadlines[job] = deadline

    def job_due(self, job: str) -> bool:
        """Whether a TrainingJob's batch Job has reached its deadline (the contract's end, the
        budget's second) and still runs: its reconcile stops it, ahead of routine work. The Job
        controller should have ended it; it may be down (a control plane restarting)."""
        deadline = self.deadlines.get(job)
        return deadline is not None and deadline <= utcnow()

    def contract_ends_now(self, name: str) -> bool:
        """Whether the contract's next reconcile ends it, as the watch last delivered it."""
        return ends_now(self.contracts.get(name), utcnow())
