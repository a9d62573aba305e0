"""Whether an Active contract's datasets are there to be reached: each dataset served over the
network has its Service, with a cluster IP (clean rooms have no resolver), and each dataset on a
volume its claim, in the provider's namespace. Pure.

Only the provider can fix a missing one; the contract's DatasetsReachable condition says which,
and its Event reaches the provider's namespace.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from tds_operator.api.datacontract import DataContract
from tds_operator.api.dataspace import DataSpace, space_namespace
from tds_operator.api.resources import Manifest
from tds_operator.policy.decision import Decision

# Reasons of the contract's DatasetsReachable condition.
DATASET_SERVICE_MISSING: Final = "DatasetServiceMissing"
DATASET_SERVICE_HEADLESS: Final = "DatasetServiceHeadless"
DATASET_CLAIM_MISSING: Final = "DatasetClaimMissing"
DATASETS_PRESENT: Final = "DatasetsPresent"
DATASET_REASONS: Final = frozenset(
    {DATASET_SERVICE_MISSING, DATASET_SERVICE_HEADLESS, DATASET_CLAIM_MISSING}
)
"""Why a clean room that is open is not ready: a dataset of the provider's is missing."""
HEADLESS: Final = "None"
"""The cluster IP of a headless Service."""


def datasets_reachable(
    contract: DataContract,
    provider: DataSpace,
    services: Mapping[str, Manifest | None],
    claims: Mapping[str, bool],
) -> Decision:
    """Whether every contracted dataset the provider offers is in place: `services` holds the
    live Service of each dataset served over the network, `claims` whether the claim of each
    dataset on a volume exists. Denied with the first kind of problem as the reason, and every
    problem, naming dataset and object, in the message."""
    namespace = space_namespace(contract.spec.provider.space)
    problems: list[tuple[str, str]] = []
    for name in contract.spec.provider.datasets:
        dataset = provider.spec.dataset(name)
        if dataset is None:
            continue  # not offered: the terms say so (TermsValid)
        if dataset.source.service is not None:
            service = dataset.source.service.name
            live = services.get(name)
            if live is None:
                problems.append(
                    (DATASET_SERVICE_MISSING, f"dataset {name}: Service {service} is missing")
                )
            elif (live.get("spec") or {}).get("clusterIP") in (None, "", HEADLESS):
                problems.append(
                    (
                        DATASET_SERVICE_HEADLESS,
                        f"dataset {name}: Service {service} has no cluster IP (clean rooms "
                        "have no resolver)",
                    )
                )
        elif dataset.source.volume is not None and not claims.get(name, False):
            claim = dataset.source.volume.claim_name
            problems.append(
                (DATASET_CLAIM_MISSING, f"dataset {name}: PersistentVolumeClaim {claim} is missing")
            )
    if problems:
        return Decision.deny(
            problems[0][0],
            "; ".join(message for _, message in problems)
            + f" in namespace {namespace}: the contract's jobs cannot reach it until the "
            "provider creates it",
        )
    return Decision.allow(
        DATASETS_PRESENT,
        f"every contracted dataset has its Service or claim in namespace {namespace}",
    )
