"""A DataContract as an ODRL 2.2 Agreement in JSON-LD (pure: the manifest as the API server
holds it in, a document out; the terms' defaults are the API's own).

The context is inline, so that any JSON-LD processor expands the document without fetching
anything. Terms ODRL's core vocabulary has (purpose, dateTime, count) use it; the others (GPU
budget, concurrent GPUs, egress destinations, joint training, review of exported models) are left
operands and actions of this project's profile, `PROFILE`. docs/security/evidence.md has the
mapping.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

ODRL: Final = "http://www.w3.org/ns/odrl/2/"
PROFILE: Final = "https://tds.io/ns/odrl/"
XSD: Final = "http://www.w3.org/2001/XMLSchema#"

_VOCAB: Final = {"@type": "@vocab"}
_SET: Final = {"@container": "@set"}
CONTEXT: Final[dict[str, Any]] = {
    "odrl": ODRL,
    "tds": PROFILE,
    "xsd": XSD,
    "dct": "http://purl.org/dc/terms/",
    "uid": "@id",
    "type": "@type",
    **{term: f"odrl:{term}" for term in ("Agreement", "Permission", "Prohibition", "Duty")},
    **{term: f"odrl:{term}" for term in ("use", "distribute", "purpose", "dateTime", "count")},
    **{term: f"odrl:{term}" for term in ("eq", "lt", "lteq", "gteq", "isAnyOf")},
    "profile": {"@id": "odrl:profile", "@type": "@id"},
    "assigner": {"@id": "odrl:assigner", "@type": "@id"},
    "assignee": {"@id": "odrl:assignee", "@type": "@id"},
    "target": {"@id": "odrl:target", "@type": "@id", **_SET},
    "action": {"@id": "odrl:action", **_VOCAB},
    "leftOperand": {"@id": "odrl:leftOperand", **_VOCAB},
    "operator": {"@id": "odrl:operator", **_VOCAB},
    "rightOperand": {"@id": "odrl:rightOperand"},
    **{term: {"@id": f"odrl:{term}", **_SET} for term in ("permission", "prohibition", "duty")},
    "constraint": {"@id": "odrl:constraint", **_SET},
    "title": "dct:title",
}


def space_iri(space: str) -> str:
    """The IRI of a DataSpace (a party) on this hub."""
    return f"urn:tds:dataspace:{space}"


def dataset_iri(space: str, dataset: str) -> str:
    """The IRI of a dataset a space offers."""
    return f"urn:tds:dataset:{space}:{dataset}"


def models_iri(contract: str) -> str:
    """The IRI of the models trained under a contract."""
    return f"urn:tds:contract:{contract}:models"


def format_seconds(text: str) -> str:
    """An RFC 3339 time in whole seconds, in UTC (`2027-03-01T00:00:00Z`)."""
    at = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    return at.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _typed(value: Any, datatype: str) -> dict[str, Any]:
    return {"@value": value, "@type": f"xsd:{datatype}"}


def _constraint(left: str, operator: str, right: Any) -> dict[str, Any]:
    return {"leftOperand": left, "operator": operator, "rightOperand": right}


def _use_constraints(spec: dict[str, Any]) -> list[dict[str, Any]]:
    purpose = spec.get("purpose") or "model-training"
    constraints = [_constraint("purpose", "eq", f"tds:{purpose}")]
    validity, compute = spec.get("validity") or {}, spec.get("compute") or {}
    if validity.get("notBefore"):
        start = format_seconds(validity["notBefore"])
        constraints.append(_constraint("dateTime", "gteq", _typed(start, "dateTime")))
    end = format_seconds(validity["notAfter"])
    constraints.append(_constraint("dateTime", "lt", _typed(end, "dateTime")))
    budget = float(compute["maxGpuHours"])
    constraints.append(_constraint("tds:gpuHours", "lteq", _typed(budget, "decimal")))
    gpus = int(compute["maxConcurrentGpus"])
    constraints.append(_constraint("tds:concurrentGpus", "lteq", _typed(gpus, "integer")))
    if spec.get("maxJobs") is not None:
        constraints.append(_constraint("count", "lteq", _typed(spec["maxJobs"], "integer")))
    destinations = [
        f"{rule['cidr']}:{port}"
        for rule in spec.get("egress") or []
        for port in sorted(map(str, rule.get("ports") or []))
    ]
    constraints.append(_constraint("tds:egressDestination", "isAnyOf", {"@list": destinations}))
    joint = spec.get("jointTraining") or {}
    allowed = bool(joint.get("allowed"))
    constraints.append(_constraint("tds:jointTraining", "eq", _typed(allowed, "boolean")))
    if allowed and joint.get("with"):
        partners = [{"@id": space_iri(space)} for space in joint["with"]]
        constraints.append(_constraint("tds:jointTrainingPartner", "isAnyOf", {"@list": partners}))
    return constraints


def odrl_agreement(contract: dict[str, Any]) -> dict[str, Any]:
    """The contract's terms as an ODRL 2.2 Agreement (JSON-LD, inline context)."""
    spec, metadata = contract.get("spec") or {}, contract.get("metadata") or {}
    name = str(metadata.get("name") or "")
    provider, consumer = spec["provider"]["space"], spec["consumer"]["space"]
    parties = {"assigner": space_iri(provider), "assignee": space_iri(consumer)}
    datasets = [dataset_iri(provider, dataset) for dataset in spec["provider"]["datasets"]]
    models = models_iri(name)
    rules: dict[str, list[dict[str, Any]]] = {
        "permission": [
            {
                "type": "Permission",
                **parties,
                "target": datasets,
                "action": "use",
                "constraint": _use_constraints(spec),
            }
        ],
        # The data itself never leaves the clean room, whatever else the terms say.
        "prohibition": [
            {"type": "Prohibition", **parties, "target": datasets, "action": "distribute"}
        ],
    }
    export = (spec.get("outputs") or {}).get("modelExport") or "review"
    if export == "denied":
        rules["prohibition"].append(
            {"type": "Prohibition", **parties, "target": [models], "action": "distribute"}
        )
    else:
        release: dict[str, Any] = {
            "type": "Permission",
            **parties,
            "target": [models],
            "action": "distribute",
        }
        if export == "review":
            review = {"type": "Duty", "assigner": space_iri(provider), "action": "tds:review"}
            release["duty"] = [{**review, "target": [models]}]
        rules["permission"].append(release)
    return {
        "@context": CONTEXT,
        "type": "Agreement",
        "uid": f"urn:uuid:{uid}" if (uid := metadata.get("uid")) else f"urn:tds:contract:{name}",
        "title": name,
        "profile": PROFILE,
        **parties,
        **rules,
    }
