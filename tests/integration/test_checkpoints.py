"""Signed ledger checkpoints on the real hub: the operator publishes them to both parties, a
party saves one with `kubectl tds audit checkpoint`, and `audit verify --since` catches the hub's
own staff rewriting or truncating history, which the plain `audit verify` cannot."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path

import pytest
from kubernetes import client

from bench.hubkit.hub import (
    CLUSTER_ADMIN,
    OPERATOR_NAMESPACE,
    Contracts,
    Spaces,
    active_contract,
    operator_down,
    owner_of,
    ready_spaces,
    refusal,
    space_namespace,
    tds,
)
from bench.hubkit.processes import OperatorProcess
from bench.hubkit.waiting import wait_until
from tds_operator.audit.chain import AuditEntry, decode_entries, entry_hash, entry_seal
from tds_operator.audit.checkpoint import published_keys, verify_signature
from tds_operator.audit.published import KEYS_CONFIGMAP, checkpoint_configmap
from tds_operator.connection import EXIT_OK, EXIT_REFUSED
from tds_operator.process.signing_key import CHECKPOINT_KEY_SECRET, SIGNING_KEY_SECRET
from tests.integration.evidence import save, settled

pytestmark = pytest.mark.integration


def secret_key(core: client.CoreV1Api, name: str) -> bytes:
    secret = core.read_namespaced_secret(name, OPERATOR_NAMESPACE)
    return base64.b64decode(secret.data["key"])


def forge(
    contracts: Contracts, core: client.CoreV1Api, name: str, entries: list[AuditEntry]
) -> None:
    """As the hub's staff (cluster-admin): store `entries` as the whole ledger, every hash and
    seal recomputed with the operator's own key, and make status.audit record their head."""
    key = secret_key(core, SIGNING_KEY_SECRET)
    relinked: list[AuditEntry] = []
    for entry in entries:
        if relinked:
            entry = dataclasses.replace(entry, previous=relinked[-1].hash)
        hash = entry_hash(entry.body())
        relinked.append(dataclasses.replace(entry, hash=hash, mac=entry_seal(key, hash)))
    pages = contracts.ledger_pages(name)
    assert len(pages) == 1, "the attack below rewrites a one-page ledger"
    page = pages[0]
    page.data = {f"{e.sequence:08d}": e.encode() for e in relinked}
    core.replace_namespaced_config_map(page.metadata.name, OPERATOR_NAMESPACE, page)
    audit = {"head": relinked[-1].hash, "entries": len(relinked)}
    CLUSTER_ADMIN.kubectl(
        "patch", "datacontract", name, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": {"audit": audit}}),
    )  # fmt: skip


def stored(contracts: Contracts, name: str) -> list[AuditEntry]:
    return decode_entries(contracts.ledger(name)).entries


def test_both_parties_hold_the_signed_head_and_a_saved_checkpoint_verifies_later(
    spaces: Spaces, contracts: Contracts, core: client.CoreV1Api, tmp_path: Path
) -> None:
    provider, consumer, bystander = ready_spaces(spaces, 3)
    name = active_contract(contracts, provider, consumer)
    document = settled(contracts, core, name)

    # The signature verifies with the published key, which each party's owner may read.
    keys = tds(owner_of(consumer), "audit", "keys")
    assert keys.returncode == EXIT_OK, keys.stderr
    signed = verify_signature(document, published_keys(json.loads(keys.stdout)))
    assert signed["sequence"] == contracts.status(name)["audit"]["entries"]
    # Each party's owner reads the checkpoint in its own namespace; an outsider reads neither.
    for party in (provider, consumer):
        owner_of(party).kubectl(
            "get", "configmap", checkpoint_configmap(name), "-n", space_namespace(party)
        )
    answer = refusal(
        lambda: owner_of(bystander).kubectl(
            "get", "configmap", checkpoint_configmap(name), "-n", space_namespace(provider)
        )
    )
    assert "forbidden" in answer.lower()

    path = save(tmp_path, consumer, name)
    assert len(json.loads(path.read_text())["entries"]) == signed["sequence"]
    before = signed["sequence"]

    # The ledger grows (a withdrawal, then consent again); the saved checkpoint still holds.
    contracts.consent(owner_of(consumer), name, "consumer", approved=False)
    contracts.wait_phase(name, "Proposed")
    grown = settled(contracts, core, name)
    assert grown["checkpoint"]["sequence"] > before
    later = tds(owner_of(provider), "audit", "verify", name, "--since", str(path))
    assert later.returncode == EXIT_OK, later.stdout + later.stderr
    assert "extends the checkpoint" in later.stdout
    assert "the ledger is intact" in later.stdout


def test_hub_staff_rewriting_history_is_caught_naming_the_entry(
    spaces: Spaces, contracts: Contracts, core: client.CoreV1Api, tmp_path: Path,
    operator: OperatorProcess, api_client: client.ApiClient,
) -> None:  # fmt: skip
    provider, consumer = ready_spaces(spaces)
    name = active_contract(contracts, provider, consumer)
    settled(contracts, core, name)
    path = save(tmp_path, provider, name)

    # Positive control: before the attack the saved checkpoint verifies.
    control = tds(owner_of(provider), "audit", "verify", name, "--since", str(path))
    assert control.returncode == EXIT_OK, control.stdout + control.stderr

    # The staff make the consumer's consent (entry 2) say someone else signed, consistently:
    # every hash and seal recomputed, status.audit pointing at the new head.
    entries = stored(contracts, name)
    consent = next(e for e in entries if e.kind == "Consent" and e.details["party"] == "consumer")
    assert consent.actor == owner_of(consumer).user
    forged = [
        dataclasses.replace(e, actor="someone-else") if e.sequence == consent.sequence else e
        for e in entries
    ]
    # (With the operator stopped, so that nothing it appends meanwhile blurs the picture.)
    with operator_down(operator, api_client):
        forge(contracts, core, name, forged)
        # The plain check cannot tell: the chain is whole and matches status.
        plain = tds(owner_of(provider), "audit", "verify", name)
        # The saved checkpoint can.
        caught = tds(owner_of(provider), "audit", "verify", name, "--since", str(path))
    assert plain.returncode == EXIT_OK, plain.stdout + plain.stderr
    assert caught.returncode == EXIT_REFUSED, caught.stdout + caught.stderr
    assert f"Rewritten at entry {consent.sequence}" in caught.stdout
    assert "does NOT extend the checkpoint" in caught.stdout


def test_truncating_the_ledger_to_before_a_revocation_is_caught(
    spaces: Spaces, contracts: Contracts, core: client.CoreV1Api, tmp_path: Path,
    operator: OperatorProcess, api_client: client.ApiClient,
) -> None:  # fmt: skip
    provider, consumer = ready_spaces(spaces)
    name = active_contract(contracts, provider, consumer)
    revoked = tds(owner_of(provider), "revoke", name)
    assert revoked.returncode == EXIT_OK, revoked.stderr
    contracts.wait_phase(name, "Revoked")
    wait_until(
        lambda: any(e.kind == "DatasetAccessRevoked" for e in stored(contracts, name)),
        timeout=30,
        what=f"the revocation of {name} on its ledger",
    )
    settled(contracts, core, name)
    path = save(tmp_path, consumer, name)

    entries = stored(contracts, name)
    revocation = next(
        e for e in entries if e.kind == "PhaseChanged" and e.details.get("phase") == "Revoked"
    )
    with operator_down(operator, api_client):
        forge(contracts, core, name, entries[: revocation.sequence - 1])
        plain = tds(owner_of(consumer), "audit", "verify", name)
        caught = tds(owner_of(consumer), "audit", "verify", name, "--since", str(path))
    assert plain.returncode == EXIT_OK, plain.stdout + plain.stderr
    assert caught.returncode == EXIT_REFUSED, caught.stdout + caught.stderr
    assert f"Truncated at entry {revocation.sequence}" in caught.stdout


def test_after_a_key_rotation_old_checkpoints_still_verify(
    spaces: Spaces, contracts: Contracts, core: client.CoreV1Api, tmp_path: Path,
    operator: OperatorProcess,
) -> None:  # fmt: skip
    provider, consumer = ready_spaces(spaces)
    name = active_contract(contracts, provider, consumer)
    old = settled(contracts, core, name)
    path = save(tmp_path, consumer, name)
    pinned = tmp_path / "keys.json"
    keys = tds(owner_of(consumer), "audit", "keys")
    assert keys.returncode == EXIT_OK, keys.stderr
    pinned.write_text(keys.stdout)

    # The hub rotates: a new checkpoint key, the operator restarted.
    old_seed = secret_key(core, CHECKPOINT_KEY_SECRET)
    core.delete_namespaced_secret(CHECKPOINT_KEY_SECRET, OPERATOR_NAMESPACE)
    operator.stop()
    operator.start()
    assert secret_key(core, CHECKPOINT_KEY_SECRET) != old_seed
    published_now = core.read_namespaced_config_map(KEYS_CONFIGMAP, OPERATOR_NAMESPACE).data or {}
    assert old["checkpoint"]["keyId"] in published_now
    assert len(published_now) >= 2

    # New heads are signed with the new key; the old checkpoint verifies with the published
    # keys and with the keys pinned before the rotation.
    contracts.consent(owner_of(consumer), name, "consumer", approved=False)
    contracts.wait_phase(name, "Proposed")
    new = settled(contracts, core, name)
    assert new["checkpoint"]["keyId"] != old["checkpoint"]["keyId"]
    for extra in ((), ("--keys", str(pinned))):
        result = tds(owner_of(consumer), "audit", "verify", name, "--since", str(path), *extra)
        assert result.returncode == EXIT_OK, result.stdout + result.stderr
    # A checkpoint signed with the new key does not verify with keys pinned before it existed.
    fresh = save(tmp_path, consumer, name)
    stale = tds(
        owner_of(consumer), "audit", "verify", name, "--since", str(fresh), "--keys", str(pinned)
    )
    assert stale.returncode == EXIT_REFUSED
    assert "not among the trusted keys" in stale.stderr
