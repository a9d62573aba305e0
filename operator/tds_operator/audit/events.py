"""Every event the operator records in a contract's audit ledger, and its idempotency id. Pure.

An id names the event itself (a consent to these terms, the n-th phase change, a job's end), so
recording it again after a restart or a retry is a no-op, while a new event always gets a new id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final, Literal

from kubectl_tds import kinds
from kubectl_tds.ledger import CONSENT_KIND
from tds_operator import FIELD_MANAGER
from tds_operator.api.rfc3339 import parse
from tds_operator.audit.chain import AuditEntry, AuditEvent
from tds_operator.policy.signatures import CONSENT, REVOKE, WITHDRAW, action_of

# The kinds a party reads back are the plugin's (kubectl_tds.kinds); the reconcilers name them here.
DATASET_ACCESS_GRANTED: Final = kinds.DATASET_ACCESS_GRANTED
JOB_ADMITTED: Final = kinds.JOB_ADMITTED
MANIFEST_BYTES_FIELD: Final = kinds.MANIFEST_BYTES_FIELD
MANIFEST_FIELD: Final = kinds.MANIFEST_FIELD
MANIFEST_FILES_FIELD: Final = kinds.MANIFEST_FILES_FIELD
OUTPUT_QUARANTINED: Final = kinds.OUTPUT_QUARANTINED
OUTPUT_RELEASED: Final = kinds.OUTPUT_RELEASED
REVIEW_APPROVED: Final = kinds.REVIEW_APPROVED
REVIEW_REJECTED: Final = kinds.REVIEW_REJECTED
USAGE_METERED: Final = kinds.USAGE_METERED
output_steps = kinds.output_steps

CONSENT_WITHDRAWN: Final = "ConsentWithdrawn"
REVOKED: Final = "Revoked"
PHASE_CHANGED: Final = "PhaseChanged"
JOB_DENIED: Final = "JobDenied"
DATASET_ACCESS_REVOKED: Final = "DatasetAccessRevoked"


def consent_entry_id(party: str, spec_digest: str) -> str:
    """Idempotency key of a party's consent to one version of the terms."""
    return f"consent/{party}/{spec_digest}"


def usage_entry_id(job_uid: str, gpu_seconds: int) -> str:
    """Idempotency key of a job's usage reaching `gpu_seconds` (it only ever grows)."""
    return f"usage/{job_uid}/{gpu_seconds}"


def job_entry_id(job_uid: str, outcome: str) -> str:
    """Idempotency key of a job's admission, denial or end (`outcome` in lower case)."""
    return f"job/{job_uid}/{outcome.lower()}"


def job_key(namespace: str, name: str) -> str:
    """How the ledger names a TrainingJob (and a ModelRelease its job): `namespace/name`."""
    return f"{namespace}/{name}"


def _stamp_event(contract: str, stamp: Mapping[str, Any], id: str, kind: str) -> AuditEvent | None:
    at = parse(str(stamp.get("at") or ""))
    if at is None:
        return None
    return AuditEvent(
        id=id,
        kind=kind,
        contract=contract,
        actor=str(stamp.get("user")),
        at=at,
        details={
            "party": stamp["party"],
            "groups": stamp.get("groups") or [],
            "specDigest": stamp["specDigest"],
            # A consent signed with the party's own key: key id, signature and public key.
            **(
                {"signature": stamp["signature"]}
                if isinstance(stamp.get("signature"), dict)
                else {}
            ),
        },
    )


def stamp_events(contract: str, stamps: Sequence[Mapping[str, Any]]) -> list[AuditEvent]:
    """One ledger entry per stamp: each consent, withdrawal and the revocation, by whom.

    A party's first consent to some terms keeps the id it always had; a later consent to the
    same terms (after a withdrawal) and every withdrawal are counted, so each gets an id of its
    own. Incomplete stamps are not evidence: skipped. Pass verified stamps only.
    """
    events: list[AuditEvent] = []
    seen: dict[tuple[str, str, str], int] = {}
    for stamp in stamps:
        if not (stamp.get("party") and stamp.get("specDigest")):
            continue
        party, digest, action = str(stamp["party"]), str(stamp["specDigest"]), action_of(stamp)
        count = seen[(action, party, digest)] = seen.get((action, party, digest), 0) + 1
        if action == CONSENT:
            id = consent_entry_id(party, digest) + (f"/{count}" if count > 1 else "")
            event = _stamp_event(contract, stamp, id, CONSENT_KIND)
        elif action == WITHDRAW:
            id = f"withdrawal/{party}/{digest}/{count}"
            event = _stamp_event(contract, stamp, id, CONSENT_WITHDRAWN)
        elif action == REVOKE:
            event = _stamp_event(contract, stamp, "revocation", REVOKED)
        else:
            event = None
        if event is not None:
            events.append(event)
    return events


def phase_entries(chain: Sequence[AuditEntry]) -> list[AuditEntry]:
    """The ledger's record of phase changes."""
    return [entry for entry in chain if entry.kind == PHASE_CHANGED]


def phase_event(
    contract: str, recorded: Sequence[AuditEntry], phase: str, reason: str, now: datetime
) -> AuditEvent | None:
    """The ledger entry of a phase change, or None if the ledger already shows this phase.

    The id is the change's position among phase changes: re-appending it after a restart is
    a no-op, while a later return to an earlier phase is still recorded.
    """
    changes = phase_entries(recorded)
    if changes and changes[-1].details.get("phase") == phase:
        return None
    return AuditEvent(
        id=f"phase/{len(changes) + 1}/{phase}",
        kind=PHASE_CHANGED,
        contract=contract,
        actor=FIELD_MANAGER,
        at=now,
        details={"phase": phase, "reason": reason},
    )


COMBINED_WITH: Final = "combinedWith"
"""Where a joint job's entries name the other contracts it trains under, each with the provider
space it came from (their names alone: never their terms, usage or ledger)."""


def _with_partners(details: dict[str, Any], combined: Mapping[str, str] | None) -> dict[str, Any]:
    if combined:
        details[COMBINED_WITH] = [
            {"contract": name, "provider": combined[name]} for name in sorted(combined)
        ]
    return details


def admission_event(
    contract: str,
    uid: str,
    job: str,
    gpus: int,
    allowed: bool,
    reason: str,
    now: datetime,
    combined: Mapping[str, str] | None = None,
) -> AuditEvent:
    """The ledger entry of a job's admission (or denial) under the contract; a joint job's
    names the other contracts (`combined`: each with its provider space)."""
    return AuditEvent(
        id=job_entry_id(uid, "admitted" if allowed else "denied"),
        kind=JOB_ADMITTED if allowed else JOB_DENIED,
        contract=contract,
        actor=FIELD_MANAGER,
        at=now,
        details=_with_partners({"uid": uid, "job": job, "reason": reason, "gpus": gpus}, combined),
    )


def usage_event(
    contract: str, uid: str, job: str, used: int, recorded: int, now: datetime
) -> AuditEvent:
    """The ledger entry of a job's usage grown from `recorded` to `used` GPU-seconds."""
    return AuditEvent(
        id=usage_entry_id(uid, used),
        kind=USAGE_METERED,
        contract=contract,
        actor=FIELD_MANAGER,
        at=now,
        details={"uid": uid, "job": job, "gpuSeconds": used, "increment": used - recorded},
    )


def job_end_event(
    contract: str,
    uid: str,
    phase: str,
    reason: str,
    used: int,
    now: datetime,
    *,
    combined: Mapping[str, str] | None = None,
) -> AuditEvent:
    """The ledger entry of a job's end: Succeeded, Failed or Stopped, with its final usage (a
    joint job's, all of it, on each contract) and the other contracts it was combined with."""
    return AuditEvent(
        id=job_entry_id(uid, phase),
        kind=f"Job{phase}",
        contract=contract,
        actor=FIELD_MANAGER,
        at=now,
        details=_with_partners({"uid": uid, "reason": reason, "gpuSeconds": used}, combined),
    )


OUTPUT_CREATED: Final = "OutputCreated"
RELEASE_REQUESTED: Final = "ReleaseRequested"
OUTPUT_DELETED: Final = "OutputDeleted"
MANIFEST_MESSAGE_FIELD: Final = "manifestMessage"
"""Why an output has no manifest, in its Quarantined entry."""


def output_event(
    contract: str,
    job_uid: str,
    kind: str,
    details: Mapping[str, Any],
    now: datetime,
    actor: str = FIELD_MANAGER,
) -> AuditEvent:
    """The ledger entry of one step of a job's output: created, quarantined, release requested,
    reviewed, released or deleted. One of each per output: the id is the step."""
    return AuditEvent(
        id=f"output/{job_uid}/{kind[0].lower()}{kind[1:]}",
        kind=kind,
        contract=contract,
        actor=actor,
        at=now,
        details={"uid": job_uid, **details},
    )


def recorded_output_state(
    steps: Mapping[str, AuditEntry],
) -> Literal["Released", "Rejected", "Discarded", "Quarantined", "Writable"] | None:
    """Where the ledger says a job's output is: Released, Rejected, Discarded, Quarantined,
    Writable (created), or None (no output recorded)."""
    if OUTPUT_RELEASED in steps:
        return "Released"
    if OUTPUT_DELETED in steps:
        return "Rejected" if REVIEW_REJECTED in steps else "Discarded"
    if OUTPUT_QUARANTINED in steps:
        return "Quarantined"
    return "Writable" if OUTPUT_CREATED in steps else None


def grant_event(
    contract: str,
    recorded: Sequence[AuditEntry],
    datasets: Sequence[str],
    grant: Mapping[str, str],
    now: datetime,
) -> AuditEvent | None:
    """The ledger entry of the clean room's dataset grant given (for `datasets`) or taken back
    (no `datasets`); None if the ledger already shows it so. `grant` names the subject and the
    Role. The id is the change's position among grant changes, as for phase changes."""
    changes = [e for e in recorded if e.kind in (DATASET_ACCESS_GRANTED, DATASET_ACCESS_REVOKED)]
    last = changes[-1] if changes else None
    if datasets:
        if (
            last
            and last.kind == DATASET_ACCESS_GRANTED
            and last.details.get("datasets") == list(datasets)
        ):
            return None
        kind, held = DATASET_ACCESS_GRANTED, list(datasets)
    else:
        if last is None or last.kind == DATASET_ACCESS_REVOKED:
            return None
        kind, held = DATASET_ACCESS_REVOKED, list(last.details.get("datasets") or [])
    return AuditEvent(
        id=f"grant/{len(changes) + 1}/{'granted' if datasets else 'revoked'}",
        kind=kind,
        contract=contract,
        actor=FIELD_MANAGER,
        at=now,
        details={**grant, "datasets": held},
    )
