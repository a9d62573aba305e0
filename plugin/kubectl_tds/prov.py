"""How a model came to be, in W3C PROV (PROV-JSON), from a contract's ledger alone.

Pure: the ledger's entries in, a document out, so a party can make it offline from a verified
ledger (a saved checkpoint holds the entries). Identifiers are in the namespace `tds:`
(`NAMESPACE`); docs/security/evidence.md lists what each entry becomes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from kubectl_tds.kinds import (
    DATASET_ACCESS_GRANTED,
    JOB_ADMITTED,
    MANIFEST_BYTES_FIELD,
    MANIFEST_FIELD,
    MANIFEST_FILES_FIELD,
    OUTPUT_QUARANTINED,
    OUTPUT_RELEASED,
    REVIEW_APPROVED,
    REVIEW_REJECTED,
    USAGE_METERED,
    output_steps,
)
from kubectl_tds.ledger import CONSENT_KIND, AuditEntry

NAMESPACE: Final = "https://tds.io/ns/prov/"
JOB_ENDS: Final = ("JobSucceeded", "JobFailed", "JobStopped")


class NoSuchJob(ValueError):
    """The ledger records no admission of that job."""


def _job_entries(entries: Sequence[AuditEntry], uid: str) -> list[AuditEntry]:
    return [e for e in entries if e.details.get("uid") == uid]


def _relation(doc: dict[str, Any], kind: str, **attributes: Any) -> None:
    relations = doc.setdefault(kind, {})
    relations[f"_:{kind}{len(relations) + 1}"] = {
        f"prov:{key}": value for key, value in attributes.items() if value is not None
    }


def _party(contract: str, party: str) -> str:
    return f"tds:contract/{contract}/{party}"


def _agents(doc: dict[str, Any], contract: str, entries: Sequence[AuditEntry]) -> None:
    """The two parties, and each person whose consent the ledger records, on their behalf."""
    for party in ("provider", "consumer"):
        doc["agent"][_party(contract, party)] = {
            "prov:type": "prov:Organization",
            "tds:role": party,
        }
    for entry in entries:
        if entry.kind != CONSENT_KIND:
            continue
        person = f"tds:user/{entry.actor}"
        party = _party(contract, str(entry.details.get("party")))
        signature = entry.details.get("signature") or {}
        doc["agent"].setdefault(person, {"prov:type": "prov:Person"})
        _relation(doc, "actedOnBehalfOf", delegate=person, responsible=party)
        consent = f"tds:consent/{contract}/{entry.sequence}"
        doc["activity"][consent] = {
            "prov:startTime": entry.at,
            "prov:endTime": entry.at,
            "tds:specDigest": entry.details.get("specDigest"),
            **({"tds:signingKey": signature["keyId"]} if signature else {}),
        }
        _relation(doc, "wasAssociatedWith", activity=consent, agent=person)
        _relation(doc, "used", activity=consent, entity=f"tds:contract/{contract}", time=entry.at)


def _datasets(entries: Sequence[AuditEntry], admitted: AuditEntry) -> list[str]:
    """The datasets the clean room was granted when the job was admitted."""
    grants = [
        e for e in entries if e.kind == DATASET_ACCESS_GRANTED and e.sequence < admitted.sequence
    ]
    return list(grants[-1].details.get("datasets") or []) if grants else []


def prov_document(contract: str, entries: Sequence[AuditEntry], job_uid: str) -> dict[str, Any]:
    """PROV-JSON of one job's model: the datasets and contract it used, the parties, the job with
    its GPU-seconds, the output with its manifest digest, the review and the release."""
    mine = _job_entries(entries, job_uid)
    admitted = next((e for e in mine if e.kind == JOB_ADMITTED), None)
    if admitted is None:
        raise NoSuchJob(f"the ledger of {contract} records no admitted job with uid {job_uid}")
    doc: dict[str, Any] = {
        "prefix": {"tds": NAMESPACE},
        "entity": {},
        "activity": {},
        "agent": {"tds:operator": {"prov:type": "prov:SoftwareAgent"}},
    }
    contract_id = f"tds:contract/{contract}"
    doc["entity"][contract_id] = {"prov:type": "tds:DataContract", "tds:name": contract}
    _agents(doc, contract, entries)
    provider, consumer = _party(contract, "provider"), _party(contract, "consumer")
    job = f"tds:job/{job_uid}"
    end = next((e for e in mine if e.kind in JOB_ENDS), None)
    metered = [e.details.get("gpuSeconds", 0) for e in mine if e.kind == USAGE_METERED]
    gpu_seconds = end.details.get("gpuSeconds") if end else max(metered, default=0)
    doc["activity"][job] = {
        "prov:type": "tds:TrainingJob",
        "prov:startTime": admitted.at,
        **({"prov:endTime": end.at, "tds:outcome": end.kind[3:]} if end else {}),
        "tds:name": admitted.details.get("job"),
        "tds:gpus": admitted.details.get("gpus"),
        "tds:gpuSeconds": gpu_seconds,
    }
    _relation(doc, "wasAssociatedWith", activity=job, agent=consumer, plan=contract_id)
    _relation(doc, "wasAssociatedWith", activity=job, agent="tds:operator")
    _relation(doc, "used", activity=job, entity=contract_id, time=admitted.at)
    datasets = [f"tds:contract/{contract}/dataset/{name}" for name in _datasets(entries, admitted)]
    for dataset in datasets:
        doc["entity"][dataset] = {"prov:type": "tds:Dataset"}
        _relation(doc, "wasAttributedTo", entity=dataset, agent=provider)
        _relation(doc, "used", activity=job, entity=dataset)
    _output(doc, entries, job_uid, datasets, provider, consumer)
    return doc


def _output(
    doc: dict[str, Any],
    entries: Sequence[AuditEntry],
    job_uid: str,
    datasets: list[str],
    provider: str,
    consumer: str,
) -> None:
    """The job's output, generated by the job from the datasets, its review and its release."""
    job = f"tds:job/{job_uid}"
    steps = output_steps(entries, job_uid)
    quarantined = steps.get(OUTPUT_QUARANTINED)
    if quarantined is None:
        return
    output = f"tds:output/{job_uid}"
    doc["entity"][output] = {
        "prov:type": "tds:ModelOutput",
        "tds:manifestDigest": quarantined.details.get(MANIFEST_FIELD),
        "tds:files": quarantined.details.get(MANIFEST_FILES_FIELD),
        "tds:bytes": quarantined.details.get(MANIFEST_BYTES_FIELD),
    }
    doc["entity"][output] = {k: v for k, v in doc["entity"][output].items() if v is not None}
    _relation(doc, "wasGeneratedBy", entity=output, activity=job, time=quarantined.at)
    _relation(doc, "wasAttributedTo", entity=output, agent=consumer)
    for dataset in datasets:
        _relation(doc, "wasDerivedFrom", generatedEntity=output, usedEntity=dataset)
    review = steps.get(REVIEW_APPROVED) or steps.get(REVIEW_REJECTED)
    if review is not None:
        activity, reviewer = f"tds:review/{job_uid}", f"tds:user/{review.actor}"
        doc["activity"][activity] = {
            "prov:type": "tds:Review",
            "prov:startTime": review.at,
            "prov:endTime": review.at,
            "tds:decision": "Approved" if review.kind == REVIEW_APPROVED else "Rejected",
            **({"tds:manifestDigest": d} if (d := review.details.get(MANIFEST_FIELD)) else {}),
        }
        doc["agent"].setdefault(reviewer, {"prov:type": "prov:Person"})
        _relation(doc, "actedOnBehalfOf", delegate=reviewer, responsible=provider)
        _relation(doc, "wasAssociatedWith", activity=activity, agent=reviewer)
        _relation(doc, "used", activity=activity, entity=output, time=review.at)
    _release(
        doc, steps.get(OUTPUT_RELEASED), job_uid, output, consumer, reviewed=review is not None
    )


def _release(
    doc: dict[str, Any],
    released: AuditEntry | None,
    job_uid: str,
    output: str,
    consumer: str,
    *,
    reviewed: bool,
) -> None:
    """The release of a reviewed or allowed output: the model the consumer receives."""
    if released is not None:
        activity, model = f"tds:release/{job_uid}", f"tds:model/{job_uid}"
        doc["activity"][activity] = {
            "prov:type": "tds:Release",
            "prov:startTime": released.at,
            "prov:endTime": released.at,
        }
        doc["entity"][model] = {
            "prov:type": "tds:ReleasedModel",
            **({"tds:manifestDigest": d} if (d := released.details.get(MANIFEST_FIELD)) else {}),
        }
        _relation(doc, "used", activity=activity, entity=output, time=released.at)
        _relation(doc, "wasGeneratedBy", entity=model, activity=activity, time=released.at)
        _relation(doc, "wasDerivedFrom", generatedEntity=model, usedEntity=output)
        _relation(doc, "wasAssociatedWith", activity=activity, agent="tds:operator")
        if reviewed:
            _relation(doc, "wasInformedBy", informed=activity, informant=f"tds:review/{job_uid}")
        _relation(doc, "wasAttributedTo", entity=model, agent=consumer)
