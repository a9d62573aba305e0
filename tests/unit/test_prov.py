"""The PROV export: made from the ledger alone, read back by the `prov` package, with the
datasets, contract, parties, the job and its GPU-seconds, the output's manifest digest, the
review and the release."""

from __future__ import annotations

import io
import json
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prov.model import ProvDocument

from kubectl_tds import cli
from kubectl_tds.prov import NoSuchJob, prov_document
from tds_operator.audit.chain import AuditEntry, AuditEvent, extend
from tds_operator.audit.checkpoint import private_key, sign_checkpoint
from tds_operator.audit.events import (
    OUTPUT_QUARANTINED,
    OUTPUT_RELEASED,
    REVIEW_APPROVED,
    admission_event,
    grant_event,
    job_end_event,
    output_event,
    stamp_events,
    usage_event,
)

pytestmark = pytest.mark.unit

T0 = datetime(2026, 12, 1, tzinfo=UTC)
CONTRACT, UID = "sgcc-to-cmcc", "job-uid-1"
DIGEST = "sha256:" + "ab" * 32


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def ledger(*, released: bool = True) -> list[AuditEntry]:
    stamps = [
        {
            "action": "consent",
            "party": p,
            "user": u,
            "at": "2026-12-01T00:00:00Z",
            "specDigest": DIGEST,
        }
        for p, u in (("provider", "wang.fang"), ("consumer", "zhang.min"))
    ]
    events: list[AuditEvent] = [*stamp_events(CONTRACT, stamps)]
    grant = grant_event(CONTRACT, [], ["grid-load-2025"], {}, at(1))
    assert grant is not None
    events += [
        grant,
        admission_event(CONTRACT, UID, "forecaster", 8, True, "Admitted", at(2)),
        usage_event(CONTRACT, UID, "forecaster", 3600, 0, at(10)),
        job_end_event(CONTRACT, UID, "Succeeded", "Completed", 7200, at(20)),
        output_event(
            CONTRACT,
            UID,
            OUTPUT_QUARANTINED,
            {"manifestDigest": DIGEST, "manifestFiles": 3},
            at(21),
        ),
    ]
    if released:
        review = {"release": "r1", "groups": [], "manifestDigest": DIGEST}
        events += [
            output_event(CONTRACT, UID, REVIEW_APPROVED, review, at(30), actor="wang.fang"),
            output_event(CONTRACT, UID, OUTPUT_RELEASED, {"manifestDigest": DIGEST}, at(31)),
        ]
    return extend([], events)


def read_back(document: dict[str, Any]) -> ProvDocument:
    return ProvDocument.deserialize(content=json.dumps(document), format="json")


def records(doc: ProvDocument, kind: str) -> dict[str, Any]:
    found = {}
    for record in doc.get_records():
        if record.get_type().localpart == kind and record.identifier is not None:
            found[record.identifier.localpart] = record
    return found


def relations(doc: ProvDocument, kind: str) -> list[tuple[str, ...]]:
    out = []
    for record in doc.get_records():
        if record.get_type().localpart == kind:
            out.append(
                tuple(
                    str(value.localpart) if hasattr(value, "localpart") else str(value)
                    for _, value in record.formal_attributes
                    if value is not None
                )
            )
    return out


def test_the_model_is_traced_to_its_datasets_contract_parties_job_review_and_release() -> None:
    doc = read_back(prov_document(CONTRACT, ledger(), UID))
    entities, activities, agents = (records(doc, k) for k in ("Entity", "Activity", "Agent"))
    assert set(entities) == {
        f"contract/{CONTRACT}",
        f"contract/{CONTRACT}/dataset/grid-load-2025",
        f"output/{UID}",
        f"model/{UID}",
    }
    job = activities[f"job/{UID}"]
    attributes = {str(k.localpart): v for k, v in job.attributes}
    assert attributes["gpuSeconds"] == 7200
    assert attributes["outcome"] == "Succeeded"
    output = {str(k.localpart): v for k, v in entities[f"output/{UID}"].attributes}
    assert output["manifestDigest"] == DIGEST
    assert {f"review/{UID}", f"release/{UID}"} <= set(activities)
    assert {"user/wang.fang", "user/zhang.min", f"contract/{CONTRACT}/provider"} <= set(agents)
    derived = relations(doc, "Derivation")
    assert (f"output/{UID}", f"contract/{CONTRACT}/dataset/grid-load-2025") in [
        d[:2] for d in derived
    ]
    assert (f"model/{UID}", f"output/{UID}") in [d[:2] for d in derived]
    used = [u[:2] for u in relations(doc, "Usage")]
    assert (f"job/{UID}", f"contract/{CONTRACT}/dataset/grid-load-2025") in used
    delegations = [d[:2] for d in relations(doc, "Delegation")]
    assert ("user/wang.fang", f"contract/{CONTRACT}/provider") in delegations


def test_an_output_not_released_has_no_release_and_an_unknown_job_is_refused() -> None:
    doc = read_back(prov_document(CONTRACT, ledger(released=False), UID))
    assert f"model/{UID}" not in records(doc, "Entity")
    assert f"release/{UID}" not in records(doc, "Activity")
    with pytest.raises(NoSuchJob, match="no admitted job"):
        prov_document(CONTRACT, ledger(), "another-uid")


def test_the_plugin_exports_offline_from_a_saved_checkpoint(tmp_path: Path) -> None:
    entries = ledger()
    key = private_key(secrets.token_bytes(32))
    saved = {
        **sign_checkpoint(key, CONTRACT, "contract-uid", entries[-1], T0),
        "entries": [entry.to_dict() for entry in entries],
    }
    path = tmp_path / "head.json"
    path.write_text(json.dumps(saved))
    out, err = io.StringIO(), io.StringIO()
    # No kubeconfig at all: the export needs no cluster.
    status = cli.main(
        ["export", "prov", UID, "--from", str(path), "--kubeconfig", "/nonexistent"], out, err
    )
    assert (status, err.getvalue()) == (0, "")
    assert json.loads(out.getvalue()) == prov_document(CONTRACT, entries, UID)
    # An edited file is refused, naming the problem.
    saved["entries"][3]["details"]["gpus"] = 1
    path.write_text(json.dumps(saved))
    status = cli.main(["export", "prov", UID, "--from", str(path)], out, err)
    assert status == 2
    assert "do not lead to the signed head" in err.getvalue()
