"""DataContract on the real hub: who may sign, when access opens and closes, and the audit trail.

The acceptance checks of the DataContract issue. People act through `kubectl --as`, so the API
server's authentication, RBAC, admission webhook and CEL rules all take part as they would for a
user; the operator runs as a process of its own.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubernetes import client

from bench.hubkit.hub import (
    CLUSTER_ADMIN,
    Contracts,
    Person,
    Spaces,
    active_contract,
    audit_verify,
    entry_kinds,
    member_of,
    operator_down,
    owner_of,
    ready_spaces,
    refusal,
    touch,
    unique_contract,
    wait_for_contract_webhook,
)
from bench.hubkit.manifests import contract_body, parse_time, rfc3339
from bench.hubkit.processes import OperatorProcess
from bench.hubkit.waiting import wait_until

pytestmark = pytest.mark.integration


# --- Consent -------------------------------------------------------------------------------------


def test_consent_by_the_owners_of_both_parties_activates_the_contract(
    spaces: Spaces, contracts: Contracts
) -> None:
    provider, consumer = ready_spaces(spaces)
    proposer, signer = owner_of(provider), owner_of(consumer)
    name = contracts.propose(proposer, contract_body(unique_contract(), provider, consumer))
    proposed = contracts.wait_phase(name, "Proposed")
    active = contracts.condition(name, "Active")
    assert active is not None
    assert active["reason"] == "AwaitingConsent"
    assert f"the consumer ({consumer})" in active["message"]
    assert [s["party"] for s in proposed["status"]["signatures"]] == ["provider"]
    assert not contracts.has_provider_policy(name, provider)

    contracts.consent(signer, name, "consumer")
    body = contracts.wait_phase(name, "Active")
    signatures = {s["party"]: s for s in body["status"]["signatures"]}
    assert signatures["provider"]["user"] == proposer.user
    assert f"{provider}-admins" in signatures["provider"]["groups"]
    assert signatures["consumer"]["user"] == signer.user
    assert f"{consumer}-admins" in signatures["consumer"]["groups"]
    assert signatures["provider"]["specDigest"] == signatures["consumer"]["specDigest"]
    assert body["status"]["activeSince"]
    wait_until(
        lambda: (
            contracts.has_provider_policy(name, provider)
            and contracts.has_clean_room(name)
            and contracts.has_datasets_policy(name)
        ),
        timeout=10,
        what="the clean room and its access to the provider's dataset",
    )


def test_consent_by_anyone_but_the_partys_owner_is_refused_naming_the_rule(
    spaces: Spaces, contracts: Contracts
) -> None:
    provider, consumer, bystander = ready_spaces(spaces, 3)
    name = contracts.propose(
        owner_of(provider), contract_body(unique_contract(), provider, consumer)
    )
    contracts.wait_phase(name, "Proposed")

    not_the_consumers_owner = {
        "the provider's owner": owner_of(provider),
        # RBAC lets the group in; the webhook never lets an anonymous caller speak for a space.
        "system:anonymous in the owners' group": Person(
            "system:anonymous", (f"{consumer}-admins",)
        ),
        "the cluster admin": CLUSTER_ADMIN,
    }
    for who, person in not_the_consumers_owner.items():
        message = refusal(lambda p=person: contracts.consent(p, name, "consumer"))
        assert "denied the request: NotConsumerOwner" in message, who
        assert f"only an owner of DataSpace {consumer} may set spec.consent.consumer" in message

    # A member only observes, and another space's owner cannot even see the contract: RBAC
    # refuses before the webhook is asked.
    for person, verb in ((member_of(consumer), "patch"), (owner_of(bystander), "get")):
        message = refusal(lambda p=person: contracts.consent(p, name, "consumer"))
        assert "Forbidden" in message
        assert f'User "{person.user}" cannot {verb} resource "datacontracts"' in message

    # Neither side speaks for the other: the consumer cannot withdraw the provider's consent.
    message = refusal(lambda: contracts.consent(owner_of(consumer), name, "provider", False))
    assert "NotProviderOwner" in message

    # Proposing takes an owner of a party.
    for person in (owner_of(bystander), CLUSTER_ADMIN):
        message = refusal(
            lambda p=person: contracts.propose(
                p, contract_body(unique_contract(), provider, consumer, provider_approves=False)
            )
        )
        assert "NotAPartyOwner" in message

    body = contracts.wait_phase(name, "Proposed")
    assert [s["party"] for s in body["status"]["signatures"]] == ["provider"]
    assert body["spec"]["consent"]["consumer"]["approved"] is False
    assert not contracts.has_provider_policy(name, provider)


# --- The validity window -------------------------------------------------------------------------


@dataclass
class Timeline:
    """When the test first saw each grant appear and disappear (time.time() seconds)."""

    appeared: dict[str, float] = field(default_factory=dict)
    disappeared: dict[str, float] = field(default_factory=dict)
    active_condition: dict[str, Any] | None = None
    ended_condition: dict[str, Any] | None = None
    polls: int = 0


def watch_the_window(
    contracts: Contracts, name: str, provider: str, until: float, interval: float = 0.03
) -> Timeline:
    """Poll the contract and its grants until `until`, noting first sightings.

    A sighting is stamped when the answer arrives, so the lags it gives are upper bounds.
    """
    timeline = Timeline()
    probes = {
        "provider policy": lambda: contracts.has_provider_policy(name, provider),
        "clean room": lambda: contracts.has_clean_room(name),
        "datasets policy": lambda: contracts.has_datasets_policy(name),
    }
    while time.time() < until:
        status = contracts.status(name)
        sightings = {"phase Active": (status.get("phase") == "Active", time.time())}
        for what, probe in probes.items():
            sightings[what] = (probe(), time.time())
        for what, (present, seen_at) in sightings.items():
            if present and what not in timeline.appeared:
                timeline.appeared[what] = seen_at
            if not present and what in timeline.appeared and what not in timeline.disappeared:
                timeline.disappeared[what] = seen_at
        active = next((c for c in status.get("conditions") or [] if c["type"] == "Active"), None)
        if active and active["status"] == "True":
            timeline.active_condition = active
        elif active and timeline.active_condition:
            timeline.ended_condition = active
        timeline.polls += 1
        time.sleep(interval)
    return timeline


def phase_changes(contracts: Contracts, name: str) -> dict[str, float]:
    """When the operator decided each phase, from the ledger (microsecond precision)."""
    return {
        entry["details"]["phase"]: parse_time(entry["at"]).timestamp()
        for entry in contracts.entries(name)
        if entry["kind"] == "PhaseChanged"
    }


def test_a_short_validity_window_opens_and_closes_access_on_time(
    spaces: Spaces, contracts: Contracts
) -> None:
    provider, consumer = ready_spaces(spaces)
    not_before = datetime.fromtimestamp(math.ceil(time.time()) + 6, UTC)
    not_after = not_before + timedelta(seconds=4)
    start, end = not_before.timestamp(), not_after.timestamp()
    name = contracts.propose(
        owner_of(provider),
        contract_body(
            unique_contract(), provider, consumer, not_before=not_before, not_after=not_after
        ),
    )
    contracts.consent(owner_of(consumer), name, "consumer")
    wait_until(
        lambda: (contracts.condition(name, "Active") or {}).get("reason") == "NotYetValid",
        timeout=5,
        what="both consents counted, waiting for notBefore",
    )
    assert time.time() < start - 1, "the test took too long to set the contract up"
    assert contracts.status(name)["phase"] == "Proposed"
    assert contracts.status(name)["expiresAt"] == rfc3339(not_after)

    timeline = watch_the_window(contracts, name, provider, until=end + 3)

    decided = phase_changes(contracts, name)
    figures = {
        "activation (operator's decision, ledger)": decided["Active"] - start,
        "expiry (operator's decision, ledger)": decided["Expired"] - end,
    }
    figures |= {f"{what} appeared (observed)": at - start for what, at in timeline.appeared.items()}
    figures |= {f"{what} gone (observed)": at - end for what, at in timeline.disappeared.items()}
    print(
        f"\nvalidity window {rfc3339(not_before)} .. {rfc3339(not_after)}, {timeline.polls} polls"
    )
    for what, lag in figures.items():
        print(f"  lag of {what:<45} {lag * 1000:8.0f} ms")

    grants = ("provider policy", "clean room", "datasets policy")
    assert set(timeline.appeared) == {"phase Active", *grants}, timeline
    assert set(timeline.disappeared) == {"phase Active", *grants}, timeline
    for what in grants:
        assert start <= timeline.appeared[what] < start + 1.0, (what, figures)
        assert end <= timeline.disappeared[what] < end + 1.0, (what, figures)
    # status.phase is the reconcile's last write, after every grant and the ledger entry.
    assert start <= timeline.appeared["phase Active"] < start + 1.5, figures
    assert end <= timeline.disappeared["phase Active"] < end + 1.5, figures
    assert 0 <= decided["Active"] - start < 1.0
    assert 0 <= decided["Expired"] - end < 1.0
    # Conditions carry whole seconds: the transitions fall in the second of each instant.
    assert timeline.active_condition is not None
    assert timeline.active_condition["reason"] == "TermsInForce"
    assert parse_time(timeline.active_condition["lastTransitionTime"]) == not_before
    assert timeline.ended_condition is not None
    assert timeline.ended_condition["reason"] == "ValidityEnded"
    assert parse_time(timeline.ended_condition["lastTransitionTime"]) == not_after
    assert contracts.wait_phase(name, "Expired")["status"]["phase"] == "Expired"


# --- Revocation ----------------------------------------------------------------------------------


@pytest.mark.parametrize("party", ["provider", "consumer"])
def test_revocation_by_either_party_removes_access_at_once_and_for_good(
    party: str, spaces: Spaces, contracts: Contracts
) -> None:
    provider, consumer = ready_spaces(spaces)
    name = active_contract(contracts, provider, consumer)
    wait_until(
        lambda: contracts.has_provider_policy(name, provider), timeout=10, what="access granted"
    )
    revoker = owner_of(provider if party == "provider" else consumer)

    started = time.monotonic()
    contracts.revoke(revoker, name)
    wait_until(
        lambda: not contracts.has_provider_policy(name, provider),
        timeout=5,
        interval=0.01,
        what="the provider's policy for the clean room removed",
    )
    lag = time.monotonic() - started
    print(f"\nrevocation by the {party}: access removed {lag * 1000:.0f} ms after kubectl patch")
    assert lag < 2.0

    contracts.wait_phase(name, "Revoked")
    active = contracts.condition(name, "Active")
    assert active is not None
    assert (active["status"], active["reason"]) == ("False", "Revoked")
    wait_until(lambda: not contracts.has_clean_room(name), timeout=10, what="clean room closed")

    for person in (owner_of(provider), owner_of(consumer)):
        message = refusal(lambda p=person: contracts.patch(p, name, {"revoked": False}))
        assert "denied the request: RevocationIsFinal" in message
    assert contracts.wait_phase(name, "Revoked")["spec"]["revoked"] is True


def test_revocation_is_final_even_while_the_operator_is_down(
    spaces: Spaces, contracts: Contracts, operator: OperatorProcess, api_client: client.ApiClient
) -> None:
    provider, consumer = ready_spaces(spaces)
    name = active_contract(contracts, provider, consumer)
    contracts.revoke(owner_of(consumer), name)
    contracts.wait_phase(name, "Revoked")

    with operator_down(operator, api_client):
        message = refusal(lambda: contracts.patch(owner_of(consumer), name, {"revoked": False}))
        assert "spec.revoked: Forbidden: revoked cannot be set back to false" in message
    assert contracts.wait_phase(name, "Revoked")["spec"]["revoked"] is True


# --- Terms ---------------------------------------------------------------------------------------


def test_terms_cannot_change_once_a_party_has_consented(
    spaces: Spaces, contracts: Contracts
) -> None:
    datasets = [
        {
            "name": name,
            "classification": "general",
            "source": {"service": {"name": f"{name}-gateway", "port": 8443}},
        }
        for name in ("records", "weather")
    ]
    provider, consumer = ready_spaces(spaces, datasets=datasets)
    proposer = owner_of(provider)

    # Before anyone consents, the terms are still negotiable.
    draft = contracts.propose(
        proposer, contract_body(unique_contract(), provider, consumer, provider_approves=False)
    )
    contracts.patch(proposer, draft, {"compute": {"maxGpuHours": 20}})
    assert (contracts.get(draft) or {})["spec"]["compute"]["maxGpuHours"] == 20

    name = contracts.propose(proposer, contract_body(unique_contract(), provider, consumer))
    contracts.wait_phase(name, "Proposed")
    terms_before = (contracts.get(name) or {})["spec"]
    edits = {
        "spec.compute": {"compute": {"maxGpuHours": 11, "maxConcurrentGpus": 8}},
        "spec.validity": {"validity": {"notAfter": rfc3339(datetime.now(UTC) + timedelta(days=9))}},
        "spec.provider": {"provider": {"space": provider, "datasets": ["records", "weather"]}},
    }
    for changed, edit in edits.items():
        message = refusal(lambda e=edit: contracts.patch(proposer, name, e))
        assert "denied the request: TermsFrozen" in message
        assert f"{changed} cannot change" in message
    # Nor can the consumer slip a change in with its consent.
    message = refusal(
        lambda: contracts.patch(
            owner_of(consumer),
            name,
            {"consent": {"consumer": {"approved": True}}, "compute": {"maxGpuHours": 1000}},
        )
    )
    assert "TermsFrozen" in message

    contracts.consent(owner_of(consumer), name, "consumer")
    contracts.wait_phase(name, "Active")
    message = refusal(lambda: contracts.patch(proposer, name, {"maxJobs": 3}))
    assert "denied the request: TermsFrozen" in message
    assert "spec.maxJobs cannot change" in message
    terms_after = (contracts.get(name) or {})["spec"]
    assert {k: v for k, v in terms_after.items() if k != "consent"} == {
        k: v for k, v in terms_before.items() if k != "consent"
    }


def test_a_contract_that_names_core_or_unknown_data_or_spaces_is_refused_at_admission(
    spaces: Spaces, contracts: Contracts
) -> None:
    core = {
        "name": "topology",
        "classification": "core",
        "source": {"volume": {"claimName": "topology"}},
    }
    records = {
        "name": "records",
        "classification": "general",
        "source": {"service": {"name": "records-gateway", "port": 8443}},
    }
    provider, consumer = ready_spaces(spaces, datasets=[records, core])
    missing = f"s{unique_contract()}"
    refused = {
        "CoreDataNotShareable": (
            owner_of(provider),
            contract_body(unique_contract(), provider, consumer, datasets=("records", "topology")),
            "topology is classified core, and core data is never shareable",
        ),
        "UnknownDataset": (
            owner_of(provider),
            contract_body(unique_contract(), provider, consumer, datasets=("no-such-data",)),
            f"DataSpace {provider} offers no dataset named no-such-data",
        ),
        "UnknownSpace": (
            owner_of(provider),
            contract_body(unique_contract(), provider, missing),
            f"spec.consumer.space: DataSpace {missing} does not exist",
        ),
    }
    for reason, (person, body, explanation) in refused.items():
        message = refusal(lambda p=person, b=body: contracts.propose(p, b))
        assert f"denied the request: {reason}: " in message
        assert explanation in message
        assert contracts.get(body["metadata"]["name"]) is None
    # An unknown provider has no owners: whoever proposes for it does not speak for it.
    body = contract_body(unique_contract(), missing, consumer, provider_approves=False)
    message = refusal(lambda: contracts.propose(owner_of(consumer), body))
    assert f"spec.provider.space: DataSpace {missing} does not exist" in message


# --- The audit ledger ----------------------------------------------------------------------------


def test_the_ledger_records_the_lifecycle_verifies_and_survives_a_crash(
    spaces: Spaces, contracts: Contracts, operator: OperatorProcess
) -> None:
    provider, consumer = ready_spaces(spaces)
    name = active_contract(contracts, provider, consumer)
    before_crash = contracts.entries(name)
    assert entry_kinds(before_crash) == [
        ("Consent", "provider"),
        ("PhaseChanged", "Proposed"),
        ("Consent", "consumer"),
        ("PhaseChanged", "Active"),
        ("DatasetAccessGranted", None),
    ]

    operator.restart(kill=True)
    wait_for_contract_webhook()
    touch(contracts, name, operator)
    assert contracts.entries(name) == before_crash

    contracts.revoke(owner_of(provider), name)
    body = contracts.wait_phase(name, "Revoked")
    entries = contracts.entries(name)
    assert entries[: len(before_crash)] == before_crash
    assert entry_kinds(entries[len(before_crash) :]) == [
        ("Revoked", "provider"),
        ("PhaseChanged", "Revoked"),
        ("DatasetAccessRevoked", None),
    ]
    assert entries[len(before_crash)]["actor"] == owner_of(provider).user
    assert [entry["sequence"] for entry in entries] == list(range(1, len(entries) + 1))
    assert len({entry["id"] for entry in entries}) == len(entries)
    assert body["status"]["audit"] == {"head": entries[-1]["hash"], "entries": len(entries)}

    touch(contracts, name, operator)
    assert contracts.entries(name) == entries
    verified = audit_verify(name)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"audit chain verified: all {len(entries)} entries are intact" in verified.stdout
    print(f"\n{verified.stdout.strip()}")


def test_tampering_with_the_ledger_is_detected_and_never_papered_over(
    spaces: Spaces, contracts: Contracts, operator: OperatorProcess
) -> None:
    provider, consumer = ready_spaces(spaces)
    name = active_contract(contracts, provider, consumer)
    contracts.revoke(owner_of(consumer), name)
    contracts.wait_phase(name, "Revoked")
    assert audit_verify(name).returncode == 0
    (page,) = contracts.ledger_pages(name)
    original = dict(page.data)
    keys = sorted(original)
    assert len(keys) == 8  # two consents, three phase changes, who revoked, grant given and taken

    def store(data: dict[str, str]) -> None:
        live = contracts.hub.core.read_namespaced_config_map(page.metadata.name, "tds-system")
        live.data = data
        contracts.hub.core.replace_namespaced_config_map(page.metadata.name, "tds-system", live)

    forged_actor = json.loads(original[keys[2]])
    forged_actor["actor"] = "mallory"
    tampered = {
        "an altered entry": (
            {**original, keys[2]: json.dumps(forged_actor, sort_keys=True, separators=(",", ":"))},
            "BROKEN at entry 3: HashMismatch",
        ),
        "an entry edited by hand": (
            {**original, keys[0]: original[keys[0]].replace('"actor":', '"actor" :')},
            "BROKEN at entry 1: MalformedEntry",
        ),
        "a deleted entry": (
            {k: v for k, v in original.items() if k != keys[1]},
            "BROKEN at entry 2: SequenceGap",
        ),
        "the last entry deleted": (
            {k: v for k, v in original.items() if k != keys[-1]},
            "BROKEN at entry 8: EntriesMissing",
        ),
        "the whole ledger deleted": ({}, "BROKEN at entry 1: EntriesMissing"),
    }
    try:
        for what, (data, verdict) in tampered.items():
            failures = operator.metric("tds_ledger_verification_failures_total", contract=name)
            store(data)
            result = audit_verify(name)
            assert (result.returncode, verdict in result.stdout) == (1, True), (what, result)
            # The operator must not write over the evidence, e.g. by re-recording a phase change
            # whose entry was removed.
            touch(contracts, name, operator)
            assert contracts.ledger(name) == dict(sorted(data.items())), what
            again = audit_verify(name)
            assert (again.returncode, verdict in again.stdout) == (1, True), (what, again)
            ledger = contracts.condition(name, "AuditLedgerIntact")
            assert ledger is not None, what
            assert ledger["status"] == "False", what
            # What the alert TDSLedgerVerificationFailed fires on.
            assert operator.metric("tds_contract_ledger_intact", contract=name) == 0, what
            assert (
                operator.metric("tds_ledger_verification_failures_total", contract=name) > failures
            ), what
            store(original)
            touch(contracts, name, operator)
            assert audit_verify(name).returncode == 0, what
            assert operator.metric("tds_contract_ledger_intact", contract=name) == 1, what
    finally:
        store(original)


def test_a_new_contract_under_a_deleted_contracts_name_starts_its_own_ledger(
    spaces: Spaces, contracts: Contracts
) -> None:
    provider, consumer = ready_spaces(spaces)
    name = active_contract(contracts, provider, consumer)
    contracts.revoke(owner_of(provider), name)
    contracts.wait_phase(name, "Revoked")
    old_entries = contracts.entries(name)
    contracts.delete(name)

    contracts.propose(owner_of(provider), contract_body(name, provider, consumer))
    body = contracts.wait_phase(name, "Proposed")
    uid = body["metadata"]["uid"]
    pages = contracts.ledger_pages(name)
    new_pages = [p for p in pages if p.metadata.labels.get("tds.io/contract-uid") == uid]
    kept_pages = [p for p in pages if p.metadata.labels.get("tds.io/contract-uid") != uid]
    assert kept_pages, "the deleted contract's ledger is kept"
    new_entries = [json.loads(text) for p in new_pages for text in (p.data or {}).values()]
    assert entry_kinds(sorted(new_entries, key=lambda e: e["sequence"])) == [
        ("Consent", "provider"),
        ("PhaseChanged", "Proposed"),
    ]
    assert body["status"]["usage"] == {"gpuHours": 0, "gpuHoursRounded": 0, "jobs": 0}
    assert body["status"]["audit"]["entries"] == 2
    # Two consents, three phase changes, who revoked, the dataset grant given and taken back.
    assert len(old_entries) == 8
    verified = audit_verify(name)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "all 2 entries are intact" in verified.stdout
