"""Whether a contract's terms fit the parties' spaces and the hub rules: one chain of policies.

The webhook runs it when terms are proposed or consented to; the reconciler runs it on every
reconcile, so a contract whose terms stop holding (a dataset withdrawn, a space gone) is Suspended.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from tds_operator.api.datacontract import DataContractSpec
from tds_operator.api.dataspace import DataSpaceSpec
from tds_operator.policy.contract import PARTIES, party_space
from tds_operator.policy.decision import Decision, first_failing
from tds_operator.policy.egress import egress_violation
from tds_operator.policy.rules import HubRules


@dataclass(frozen=True)
class TermsInput:
    """What the terms are checked against: the parties' spaces (None if absent) and hub rules."""

    spec: DataContractSpec
    provider_space: DataSpaceSpec | None
    consumer_space: DataSpaceSpec | None
    hub_rules: HubRules
    now: datetime


def parties_exist(terms: TermsInput) -> Decision:
    """Both spec.provider.space and spec.consumer.space name existing DataSpaces."""
    for party in PARTIES:
        space = terms.provider_space if party == "provider" else terms.consumer_space
        if space is None:
            name = party_space(terms.spec, party)
            return Decision.deny(
                "UnknownSpace",
                f"spec.{party}.space: DataSpace {name} does not exist; name an existing DataSpace",
            )
    return Decision.allow("SpacesExist", "both parties' DataSpaces exist")


def datasets_offered(terms: TermsInput) -> Decision:
    """Every dataset in spec.provider.datasets is offered by the provider's space."""
    space = terms.provider_space
    if space is None:
        return parties_exist(terms)
    unknown = [name for name in terms.spec.provider.datasets if space.dataset(name) is None]
    if unknown:
        offered = ", ".join(dataset.name for dataset in space.datasets) or "none"
        return Decision.deny(
            "UnknownDataset",
            f"spec.provider.datasets: DataSpace {terms.spec.provider.space} offers no dataset "
            f"named {', '.join(unknown)} (it offers: {offered})",
        )
    return Decision.allow("DatasetsOffered", "the provider offers every dataset named")


def no_core_data(terms: TermsInput) -> Decision:
    """No dataset of the contract is classified `core`: core data is never shareable."""
    space = terms.provider_space
    core = [
        name
        for name in terms.spec.provider.datasets
        if space is not None
        and (dataset := space.dataset(name)) is not None
        and dataset.classification == "core"
    ]
    if core:
        return Decision.deny(
            "CoreDataNotShareable",
            f"spec.provider.datasets: {', '.join(core)} is classified core, and core data is "
            "never shareable; remove it from the contract",
        )
    return Decision.allow("NoCoreData", "no dataset of the contract is core data")


def validity_within_hub_limit(terms: TermsInput) -> Decision:
    """The validity window, from notBefore (or now, if unset) to notAfter, fits the hub's limit."""
    validity = terms.spec.validity
    start = validity.not_before or terms.now
    limit = terms.hub_rules.max_contract_days
    if validity.not_after - start > timedelta(days=limit):
        span = (validity.not_after - start) / timedelta(days=1)
        origin = "notBefore" if validity.not_before is not None else "now"
        return Decision.deny(
            "ContractTooLong",
            f"spec.validity spans {span:.1f} days from {origin} to notAfter; the hub allows "
            f"at most {limit} days: move spec.validity.notAfter earlier",
        )
    return Decision.allow("ValidityWithinLimit", f"validity is at most {limit} days")


def budget_within_hub_limit(terms: TermsInput) -> Decision:
    """spec.compute.maxGpuHours is at most the hub's per-contract GPU-hour limit, if any."""
    limit = terms.hub_rules.max_gpu_hours_per_contract
    asked = terms.spec.compute.max_gpu_hours
    if limit is not None and asked > limit:
        return Decision.deny(
            "GpuBudgetTooLarge",
            f"spec.compute.maxGpuHours is {asked}; the hub allows at most {limit:g} GPU-hours "
            "per contract",
        )
    return Decision.allow("GpuBudgetWithinLimit", "the GPU budget fits the hub's limit")


def concurrency_within_hub_limit(terms: TermsInput) -> Decision:
    """spec.compute.maxConcurrentGpus is at most the hub's per-contract limit, if any."""
    limit = terms.hub_rules.max_concurrent_gpus_per_contract
    asked = terms.spec.compute.max_concurrent_gpus
    if limit is not None and asked > limit:
        return Decision.deny(
            "GpuConcurrencyTooLarge",
            f"spec.compute.maxConcurrentGpus is {asked}; the hub allows at most {limit} GPUs "
            "at a time per contract",
        )
    return Decision.allow("GpuConcurrencyWithinLimit", "GPU concurrency fits the hub's limit")


def egress_within_hub_rules(terms: TermsInput) -> Decision:
    """No spec.egress entry leads into the cluster, to link-local addresses, or (unless the hub
    allows it) everywhere."""
    for index, rule in enumerate(terms.spec.egress):
        violation = egress_violation(rule.cidr, terms.hub_rules)
        if violation is not None:
            return Decision.deny(
                "EgressForbidden",
                f"spec.egress[{index}].cidr: {violation}; clean rooms may not reach it: "
                "name only the networks jobs need, such as a package mirror's address",
            )
    return Decision.allow("EgressAllowed", "every egress destination is allowed by the hub")


TERMS_POLICIES: Final = (
    parties_exist,
    datasets_offered,
    no_core_data,
    validity_within_hub_limit,
    budget_within_hub_limit,
    concurrency_within_hub_limit,
    egress_within_hub_rules,
)


def validate_contract_terms(
    spec: DataContractSpec,
    provider_space: DataSpaceSpec | None,
    consumer_space: DataSpaceSpec | None,
    hub_rules: HubRules,
    now: datetime,
) -> Decision:
    """The first term that the parties' spaces or the hub rules refuse, else TermsValid."""
    return first_failing(
        TERMS_POLICIES,
        TermsInput(spec, provider_space, consumer_space, hub_rules, now),
        Decision.allow("TermsValid", "the terms fit both spaces and the hub rules"),
    )
