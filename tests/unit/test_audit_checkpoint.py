"""Signed ledger checkpoints: a saved checkpoint proves what the ledger held, and a ledger shown
later either extends it entry for entry or is caught, naming the first entry that differs."""

from __future__ import annotations

import copy
import dataclasses
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tds_operator.audit.chain import AuditEntry, AuditEvent, entry_hash, extend
from tds_operator.audit.checkpoint import (
    CheckpointInvalid,
    decode_public,
    encode_public,
    extends,
    key_id,
    private_key,
    published_keys,
    saved_entries,
    sign_checkpoint,
    verify_signature,
)
from tds_operator.audit.published import (
    CHECKPOINT_FIELD,
    checkpoint_configmap,
    checkpoint_manifest,
)

pytestmark = pytest.mark.unit

T0 = datetime(2026, 12, 1, tzinfo=UTC)
CONTRACT, UID = "sgcc-to-cmcc-load", "0b9d3c1e-5f0a-4c55-9b8e-1f2a3b4c5d6e"


def ledger(size: int, start: int = 0) -> list[AuditEntry]:
    events = [
        AuditEvent(
            id=f"usage/{n}",
            kind="UsageMetered",
            contract=CONTRACT,
            actor="tds-operator",
            at=T0 + timedelta(minutes=n),
            details={"gpuHours": n},
        )
        for n in range(start, start + size)
    ]
    return extend([], events)


def rewrite(entries: list[AuditEntry], position: int, **details: Any) -> list[AuditEntry]:
    """What hub staff do with every hash recomputed: entry `position` changed, the rest relinked."""
    out: list[AuditEntry] = []
    for entry in entries:
        changed = (
            dataclasses.replace(entry, details=details) if entry.sequence == position else entry
        )
        if out:
            changed = dataclasses.replace(changed, previous=out[-1].hash)
        body = changed.body()
        out.append(dataclasses.replace(changed, hash=entry_hash(body), mac=""))
    return out


@pytest.fixture
def key() -> Any:
    return private_key(secrets.token_bytes(32))


def saved(key: Any, entries: list[AuditEntry]) -> dict[str, Any]:
    document = sign_checkpoint(key, CONTRACT, UID, entries[-1], T0)
    return {**document, "entries": [entry.to_dict() for entry in entries]}


def trusted(*keys: Any) -> dict[str, Any]:
    return published_keys({key_id(k.public_key()): encode_public(k.public_key()) for k in keys})


def test_a_checkpoint_verifies_with_the_published_key_and_names_the_head(key: Any) -> None:
    entries = ledger(5)
    document = saved(key, entries)
    checkpoint = verify_signature(document, trusted(key))
    assert checkpoint == {
        "contract": CONTRACT,
        "uid": UID,
        "sequence": 5,
        "head": entries[-1].hash,
        "at": "2026-12-01T00:00:00Z",
        "keyId": key_id(key.public_key()),
    }
    assert saved_entries(document, checkpoint) == entries


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sequence", 4),
        ("head", "sha256:" + "0" * 64),
        ("uid", "other"),
        ("at", "2027-01-01T00:00:00Z"),
    ],
)
def test_an_altered_checkpoint_fails_its_signature(key: Any, field: str, value: Any) -> None:
    document = saved(key, ledger(5))
    verify_signature(document, trusted(key))  # positive control
    altered = copy.deepcopy(document)
    altered["checkpoint"][field] = value
    with pytest.raises(CheckpointInvalid, match="signature does not verify"):
        verify_signature(altered, trusted(key))


def test_a_checkpoint_signed_by_another_key_is_refused(key: Any) -> None:
    stranger = private_key(secrets.token_bytes(32))
    document = saved(stranger, ledger(3))
    with pytest.raises(CheckpointInvalid, match="not among the trusted keys"):
        verify_signature(document, trusted(key))
    # A stranger's key published under the operator's key id is refused as such.
    forged = {key_id(key.public_key()): encode_public(stranger.public_key())}
    with pytest.raises(CheckpointInvalid, match="is in fact key"):
        published_keys(forged)


def test_after_a_rotation_old_checkpoints_still_verify(key: Any) -> None:
    old = saved(key, ledger(3))
    new_key = private_key(secrets.token_bytes(32))
    new = saved(new_key, ledger(4))
    keys = trusted(key, new_key)
    assert verify_signature(old, keys)["keyId"] == key_id(key.public_key())
    assert verify_signature(new, keys)["keyId"] == key_id(new_key.public_key())
    with pytest.raises(CheckpointInvalid):
        verify_signature(old, trusted(new_key))


def test_saved_entries_that_do_not_lead_to_the_signed_head_are_refused(key: Any) -> None:
    entries = ledger(5)
    document = saved(key, entries)
    checkpoint = verify_signature(document, trusted(key))
    edited = copy.deepcopy(document)
    edited["entries"] = [entry.to_dict() for entry in rewrite(entries, 2, gpuHours=0)]
    with pytest.raises(CheckpointInvalid, match="do not lead to the signed head"):
        saved_entries(edited, checkpoint)
    shortened = {**document, "entries": document["entries"][:4]}
    with pytest.raises(CheckpointInvalid, match="do not lead to the signed head"):
        saved_entries(shortened, checkpoint)
    malformed = {**document, "entries": [{"sequence": "one"}]}
    with pytest.raises(CheckpointInvalid, match="malformed"):
        saved_entries(malformed, checkpoint)


def test_a_ledger_that_grew_extends_the_checkpoint() -> None:
    grown = ledger(8)
    result = extends(grown[:5], grown)
    assert (result.ok, result.reason) == (True, "Extends")
    assert "3 entries follow" in result.message
    assert extends(grown[:5], grown[:5]).ok


def test_a_consistent_rewrite_names_the_first_rewritten_entry() -> None:
    original = ledger(8)
    forged = rewrite(original, 3, gpuHours=0)
    assert forged[-1].hash != original[-1].hash
    result = extends(original[:6], forged)
    assert (result.ok, result.first_bad_sequence, result.reason) == (False, 3, "Rewritten")
    assert "entry 3 differs" in result.message


def test_a_truncation_names_the_first_removed_entry() -> None:
    original = ledger(8)
    result = extends(original[:6], original[:4])
    assert (result.ok, result.first_bad_sequence, result.reason) == (False, 5, "Truncated")
    assert "entries from 5 on" in result.message


def test_a_fork_names_the_entry_where_it_parts() -> None:
    original = ledger(6)
    other = AuditEvent("other", "Revoked", CONTRACT, "hub-admin", T0 + timedelta(hours=1))
    fork = [*original[:4], *extend(original[:4], [other])]
    result = extends(original, fork)
    assert (result.ok, result.first_bad_sequence, result.reason) == (False, 5, "Rewritten")


def test_public_keys_are_32_raw_bytes_in_base64(key: Any) -> None:
    text = encode_public(key.public_key())
    assert key_id(decode_public(text)) == key_id(key.public_key())
    for bad in ("not base64!", "AAAA"):
        with pytest.raises(ValueError, match=r"base64|32 bytes"):
            decode_public(bad)


def test_the_published_checkpoint_is_a_configmap_of_a_valid_name_in_the_partys_namespace(
    key: Any,
) -> None:
    document = sign_checkpoint(key, CONTRACT, UID, ledger(2)[-1], T0)
    manifest = checkpoint_manifest(CONTRACT, "tds-cmcc", document)
    assert manifest["metadata"]["name"] == f"tds-checkpoint-{CONTRACT}"
    assert manifest["metadata"]["namespace"] == "tds-cmcc"
    assert json.loads(manifest["data"][CHECKPOINT_FIELD]) == document
    long = "c" * 253
    assert len(checkpoint_configmap(long)) <= 253
    assert checkpoint_configmap(long) != checkpoint_configmap("c" * 252)
