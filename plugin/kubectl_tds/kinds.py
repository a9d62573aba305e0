"""The kinds of the ledger's entries a party reads back (what `kubectl tds export prov` and the
operator's reconcilers both make of them), and the fields of a job's output steps.

Pure: the operator records entries of these kinds (tds_operator.audit.events); whoever reads a
ledger finds them by the same names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from kubectl_tds.ledger import AuditEntry

JOB_ADMITTED: Final = "JobAdmitted"
USAGE_METERED: Final = "UsageMetered"
DATASET_ACCESS_GRANTED: Final = "DatasetAccessGranted"
OUTPUT_QUARANTINED: Final = "OutputQuarantined"
OUTPUT_RELEASED: Final = "OutputReleased"
REVIEW_APPROVED: Final = "ReviewApproved"
REVIEW_REJECTED: Final = "ReviewRejected"
MANIFEST_FIELD: Final = "manifestDigest"
"""Where an output's manifest digest (file names, sizes, sha256) goes in its Quarantined entry
(made in the clean room by the operator's own image) and in the ReviewApproved entry that binds
to it; null where no manifest could be made."""
MANIFEST_FILES_FIELD: Final = "manifestFiles"
MANIFEST_BYTES_FIELD: Final = "manifestBytes"


def output_steps(chain: Sequence[AuditEntry], job_uid: str) -> dict[str, AuditEntry]:
    """The recorded steps of a job's output, by kind."""
    return {
        entry.kind: entry
        for entry in chain
        if entry.id.startswith(f"output/{job_uid}/") and entry.details.get("uid") == job_uid
    }
